// The browser side of wslib.notebook.livelog.LiveLog (an anywidget front-end module).
//
// Each view makes its live region once, a [role="log"] box, and from then on only appends
// the lines it has not shown yet and trims the oldest: the box itself is never replaced,
// which is what lets a screen reader announce each new line. Lines come as
// [number, CSS classes, text]; the text is set as textContent, never parsed as HTML.

// Return the lines the model holds: those of the last full send, then the ones after it.
function currentLines(model) {
  const full = model.get("lines");
  const newest = full.length ? full[full.length - 1][0] : -1;
  const all = full.concat(model.get("recent").filter((line) => line[0] > newest));
  return all.slice(Math.max(0, all.length - model.get("keep")));
}

function lineElement([number, classes, text]) {
  const element = document.createElement("div");
  element.className = classes;
  element.dataset.seq = String(number);
  element.textContent = text;
  return element;
}

function render({ model, el }) {
  const region = document.createElement("div");
  region.className = model.get("box_class");
  region.setAttribute("role", "log");
  region.setAttribute("aria-live", "polite");
  region.setAttribute("aria-label", model.get("label"));
  region.tabIndex = 0; // the keyboard can reach it, to scroll it
  // The box lays out its one child in reverse (column-reverse), which keeps the view at
  // the newest line as lines are added, with no scrolling code.
  const body = document.createElement("div");
  region.append(body);
  el.append(region);

  const numberOf = (element) => Number(element.dataset.seq);
  function update() {
    const lines = currentLines(model);
    const newest = lines.length ? lines[lines.length - 1][0] : -1;
    if (body.lastElementChild && numberOf(body.lastElementChild) > newest) {
      body.replaceChildren(); // numbers only grow: this is another log's, start again
    }
    const shown = body.lastElementChild ? numberOf(body.lastElementChild) : -1;
    const added = document.createDocumentFragment();
    for (const line of lines) {
      if (line[0] > shown) added.append(lineElement(line));
    }
    body.append(added);
    const oldest = lines.length ? lines[0][0] : Infinity;
    while (body.firstElementChild && numberOf(body.firstElementChild) < oldest) {
      body.firstElementChild.remove();
    }
  }
  function relabel() {
    region.setAttribute("aria-label", model.get("label"));
  }

  update();
  model.on("change:lines", update);
  model.on("change:recent", update);
  model.on("change:label", relabel);
  return () => {
    model.off("change:lines", update);
    model.off("change:recent", update);
    model.off("change:label", relabel);
  };
}

export default { render };
