// The kit's one display rule, the twin of wslib.core.display.printable in Python: control
// characters, bidi overrides, line separators and lone surrogates are written out as \xNN or \uNNNN, so a
// peer's text can neither hide itself nor turn the line around. The package inlines this
// file into each page it serves (wslib.server.assets); tests/test_page_browser.py checks
// that both rules agree, in every page that carries it.
const UNSAFE = /[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]/gu;  // u: lone surrogates only
function printable(text) {
  return String(text).replace(UNSAFE, (ch) => {
    const code = ch.charCodeAt(0);
    return code <= 0xff ? "\\x" + code.toString(16).padStart(2, "0")
                        : "\\u" + code.toString(16).padStart(4, "0");
  });
}
