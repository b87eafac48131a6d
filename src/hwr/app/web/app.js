// The hwr page: sends dropped scans or the drawing to POST /predict and shows what comes back.
// Plain browser APIs only (no library, nothing from other sites), so it works offline.
"use strict";

const $ = (id) => document.getElementById(id);
const MODEL_WIDTH = 256, MODEL_HEIGHT = 64; // the model's input: a drawing is sent at this size

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

function size(bytes) {
  return bytes >= 1048576 ? `${(bytes / 1048576).toFixed(1)} MiB` : `${Math.ceil(bytes / 1024)} KiB`;
}

function percent(confidence) {
  return `${(100 * confidence).toFixed(1)} %`;
}

function resultItem(result, blob) {
  const item = document.createElement("li");
  item.className = "result" + (result.error ? " failed" : "");
  item.dataset.name = result.name;
  const image = document.createElement("img");
  image.alt = result.name;
  if (blob) image.src = URL.createObjectURL(blob);
  const body = document.createElement("div");
  const name = document.createElement("div");
  name.className = "name";
  name.textContent = result.name;
  if (result.error) {
    const message = document.createElement("div");
    message.className = "message";
    message.textContent = result.error;
    body.append(message, name);
  } else {
    const line = document.createElement("div");
    const text = document.createElement("span");
    text.className = "text";
    text.textContent = result.text;
    if (!result.text) { text.textContent = "(nothing read)"; text.classList.add("empty"); }
    const confidence = document.createElement("span");
    confidence.className = "confidence";
    confidence.textContent = `confidence ${percent(result.confidence)}`;
    line.append(text, confidence);
    body.append(line, name);
    if (result.alternatives && result.alternatives.length) {
      const list = document.createElement("ul");
      list.className = "alternatives";
      for (const alt of result.alternatives) {
        const li = document.createElement("li");
        li.textContent = `${alt.text || "(nothing)"}: ${percent(alt.confidence)}`;
        list.append(li);
      }
      body.append(list);
    }
  }
  item.append(image, body);
  return item;
}

async function send(files) {
  if (!files.length) return;
  const form = new FormData();
  for (const file of files) form.append("files", file, file.name);
  showError("");
  $("busy").hidden = false;
  try {
    const response = await fetch("/predict", { method: "POST", body: form });
    let answer;
    try { answer = await response.json(); } catch { answer = { error: `the server answered ${response.status}` }; }
    if (answer.error) showError(answer.error);
    const results = answer.results || [];
    $("results").prepend(...results.map((result, i) => resultItem(result, files[i])));  // newest batch on top, in order
  } catch (error) {
    showError(`could not reach the server (${error.message})`);
  } finally {
    $("busy").hidden = true;
  }
}

// ---- scans: the file chooser and drag and drop
$("files").addEventListener("change", (event) => { send([...event.target.files]); event.target.value = ""; });
const drop = $("drop");
for (const type of ["dragenter", "dragover"]) {
  drop.addEventListener(type, (event) => { event.preventDefault(); drop.classList.add("over"); });
}
for (const type of ["dragleave", "drop"]) {
  drop.addEventListener(type, () => drop.classList.remove("over"));
}
drop.addEventListener("drop", (event) => { event.preventDefault(); send([...event.dataTransfer.files]); });

// ---- the writing pad: pointer events serve a mouse, a pen and a finger alike
const pad = $("pad");
const ink = pad.getContext("2d");
let drawing = false, drawn = false;

function clearPad() {
  ink.fillStyle = "#fff";
  ink.fillRect(0, 0, pad.width, pad.height);
  drawn = false;
}

function point(event) {
  const box = pad.getBoundingClientRect();
  return [(event.clientX - box.left) * pad.width / box.width, (event.clientY - box.top) * pad.height / box.height];
}

pad.addEventListener("pointerdown", (event) => {
  drawing = true;
  pad.setPointerCapture(event.pointerId);
  ink.beginPath();
  ink.moveTo(...point(event));
});
pad.addEventListener("pointermove", (event) => {
  if (!drawing) return;
  ink.lineTo(...point(event));
  ink.lineWidth = 6; // 3 px at the model's scale, like a pen stroke on a scan
  ink.lineCap = ink.lineJoin = "round";
  ink.strokeStyle = "#111";
  ink.stroke();
  drawn = true;
});
for (const type of ["pointerup", "pointercancel"]) pad.addEventListener(type, () => { drawing = false; });

$("clear").addEventListener("click", clearPad);
$("read-drawing").addEventListener("click", () => {
  if (!drawn) { showError("draw a name on the pad first"); return; }
  const small = document.createElement("canvas");
  small.width = MODEL_WIDTH;
  small.height = MODEL_HEIGHT;
  small.getContext("2d").drawImage(pad, 0, 0, MODEL_WIDTH, MODEL_HEIGHT);
  small.toBlob((blob) => send([new File([blob], "drawing.png", { type: "image/png" })]), "image/png");
});

// ---- what the server runs and takes
async function describe() {
  try {
    const health = await (await fetch("/health")).json();
    $("model").textContent = `${health.rnn.toUpperCase()} model (${health.backend}, resize ${health.resize}), hwr ${health.version}`;
    const l = health.limits;
    $("limits").textContent = `up to ${l.max_files} images at once, ${size(l.max_file_bytes)} each`;
  } catch (error) {
    $("model").textContent = "the server does not answer";
  }
}

clearPad();
describe();
