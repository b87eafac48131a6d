// The hwr page: sends dropped scans or the drawing to POST /predict and shows what comes back.
// Plain browser APIs only (no library, nothing from other sites), so it works offline.
"use strict";

const $ = (id) => document.getElementById(id);
const MODEL_WIDTH = 256, MODEL_HEIGHT = 64; // the model's input: a drawing is sent at exactly this size
// Where a name sits in a scan at the model's scale (the real scans, 284-388 x 31-44 px: capitals
// 14-18 px tall, starting about 10 px from the left and 13 px from the top, strokes about 2 px wide,
// dark grey on white). A drawing is redrawn to match, whatever size it was written at on the pad.
const INK_HEIGHT = 16, INK_LEFT = 10, INK_TOP = 13, INK_RIGHT_MARGIN = 6, PEN_WIDTH = 2.2, INK = "#222";

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
const preview = $("crop");
let drawing = false;
let strokes = []; // what was written, as lists of [x, y] points in the pad's pixels

function clearPad() {
  ink.fillStyle = "#fff";
  ink.fillRect(0, 0, pad.width, pad.height);
  strokes = [];
  showCrop();
}

function point(event) {
  const box = pad.getBoundingClientRect();
  return [(event.clientX - box.left) * pad.width / box.width, (event.clientY - box.top) * pad.height / box.height];
}

pad.addEventListener("pointerdown", (event) => {
  drawing = true;
  pad.setPointerCapture(event.pointerId);
  strokes.push([point(event)]);
  ink.beginPath();
  ink.moveTo(...point(event));
});
pad.addEventListener("pointermove", (event) => {
  if (!drawing) return;
  strokes[strokes.length - 1].push(point(event));
  ink.lineTo(...point(event));
  ink.lineWidth = 6;
  ink.lineCap = ink.lineJoin = "round";
  ink.strokeStyle = "#111";
  ink.stroke();
});
for (const type of ["pointerup", "pointercancel"]) {
  pad.addEventListener(type, () => { if (drawing) { drawing = false; showCrop(); } });
}

// The drawing as a scan of it would reach the model: the strokes' bounding box, scaled so the
// name is as tall as in a scan (narrower if it would not fit the width), placed where a scan has
// it, and drawn with a scan's pen. Redrawing the strokes, rather than shrinking the pad's pixels,
// keeps the pen's width the same whatever size the name was written at: big capitals filling the
// pad and small ones give the same image.
function scanOfDrawing() {
  const crop = document.createElement("canvas");
  crop.width = MODEL_WIDTH;
  crop.height = MODEL_HEIGHT;
  const g = crop.getContext("2d");
  g.fillStyle = "#fff";
  g.fillRect(0, 0, MODEL_WIDTH, MODEL_HEIGHT);
  const points = strokes.flat();
  if (!points.length) return crop;
  const xs = points.map((p) => p[0]), ys = points.map((p) => p[1]);
  const left = Math.min(...xs), top = Math.min(...ys);
  const width = Math.max(...xs) - left, height = Math.max(...ys) - top;
  const scale = Math.min(INK_HEIGHT / Math.max(height, 1), (MODEL_WIDTH - INK_LEFT - INK_RIGHT_MARGIN) / Math.max(width, 1));
  const at = ([x, y]) => [INK_LEFT + (x - left) * scale, INK_TOP + (y - top) * scale];
  g.strokeStyle = g.fillStyle = INK;
  g.lineWidth = PEN_WIDTH;
  g.lineCap = g.lineJoin = "round";
  for (const stroke of strokes) {
    g.beginPath();
    if (stroke.length === 1) { // a tap: a dot (a path of one point draws nothing)
      g.arc(...at(stroke[0]), PEN_WIDTH / 2, 0, 2 * Math.PI);
      g.fill();
      continue;
    }
    g.moveTo(...at(stroke[0]));
    for (const p of stroke.slice(1)) g.lineTo(...at(p));
    g.stroke();
  }
  return crop;
}

function showCrop() { // beside the pad: what "Read the drawing" will send
  const g = preview.getContext("2d");
  g.drawImage(scanOfDrawing(), 0, 0);
}

$("clear").addEventListener("click", clearPad);
$("read-drawing").addEventListener("click", () => {
  if (!strokes.length) { showError("draw a name on the pad first"); return; }
  scanOfDrawing().toBlob((blob) => send([new File([blob], "drawing.png", { type: "image/png" })]), "image/png");
});

// ---- what the server runs and takes
async function describe() {
  try {
    const health = await (await fetch("/health")).json();
    $("model").textContent = `${health.rnn.toUpperCase()} model (${health.backend}, resize ${health.resize}, ${health.width} px), hwr ${health.version}`;
    const l = health.limits;
    $("limits").textContent = `up to ${l.max_files} images at once, ${size(l.max_file_bytes)} each`;
  } catch (error) {
    $("model").textContent = "the server does not answer";
  }
}

clearPad();
describe();
