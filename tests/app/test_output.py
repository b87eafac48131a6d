import json

from hwr.app.output import escape, json_line, tsv_line
from hwr.decoding.greedy import Reading


def test_tsv_line_escapes_the_path_and_lists_alternatives():
    reading = Reading("LEA", 0.91234, (("LEO", 0.05),))
    assert tsv_line("a\tb\\c.jpg", reading) == "a\\tb\\\\c.jpg\tLEA\t0.9123\tLEO\t0.0500\n"
    assert escape("x\ny\r") == "x\\ny\\r"


def test_json_line_is_one_object_with_alternatives_only_when_given():
    assert json.loads(json_line("s.jpg", Reading("MARTIN", 0.5))) == {"path": "s.jpg", "text": "MARTIN",
                                                                       "confidence": 0.5}
    line = json_line("é.jpg", Reading("LEA", 0.9, (("LEO", 0.1),)))
    assert line.endswith("\n") and "\n" not in line[:-1] and "é" in line
    assert json.loads(line)["alternatives"] == [{"text": "LEO", "confidence": 0.1}]
