// What a kit page does inside a notebook's frame (wslib.notebook.loader holds the other
// side). The page's colours: ?theme=light or ?theme=dark fixes them; without it the frame's
// loader may say which theme the notebook shows, with a message {type: "wslib-theme",
// theme: "light" | "dark"}, taken only from the parent window and only with those values;
// without either, the browser's preference applies (the CSS's prefers-color-scheme). Once
// set up, the page says "wslib-page-ready" to its parent, which stops loading it again.
{
  const isTheme = (theme) => theme === "light" || theme === "dark";
  const fixed = new URLSearchParams(location.search).get("theme");
  if (isTheme(fixed)) {
    document.documentElement.dataset.theme = fixed;
  } else if (window.parent !== window) {
    window.addEventListener("message", (event) => {
      const data = event.data;
      if (event.source === window.parent && data !== null && typeof data === "object"
          && data.type === "wslib-theme" && isTheme(data.theme)) {
        document.documentElement.dataset.theme = data.theme;
      }
    });
  }
  if (window.parent !== window) window.parent.postMessage("wslib-page-ready", "*");
}
