// Small form helpers.
// Copy buttons: <button data-copy="text">. Says "Copied" for a moment. The clipboard API is tried
// first; where it is refused (an http origin other than localhost) or does not answer within a
// second (a busy or headless browser), the text is selected and copied the old way, and where
// even that is refused the button says "Press Ctrl+C" with the text selected.
(function () {
  "use strict";
  const TIMEOUT_MS = 1000;
  const withTimeout = (promise) => Promise.race([
    promise,
    new Promise((_, reject) => setTimeout(() => reject(new Error("clipboard timeout")), TIMEOUT_MS)),
  ]);
  const copySelected = (button) => {
    const input = button.parentElement.querySelector("input");
    if (!input) return false;
    input.select();
    try { return document.execCommand("copy"); } catch (error) { return false; }
  };
  document.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-copy]");
    if (!button) return;
    if (!button.dataset.label) button.dataset.label = button.textContent;
    let copied;
    try {
      await withTimeout(navigator.clipboard.writeText(button.dataset.copy));
      copied = true;
    } catch (error) {
      copied = copySelected(button);
    }
    button.textContent = copied ? "Copied" : "Press Ctrl+C";
    clearTimeout(button.copyTimer);
    button.copyTimer = setTimeout(() => { button.textContent = button.dataset.label; }, 2000);
  });
})();

// "Add a version": <button data-show-slot> reveals the next hidden [data-slot] of its card and
// goes away once every slot shows.
(function () {
  "use strict";
  const hiddenSlots = (button) => button.parentElement.querySelectorAll("[data-slot][hidden]");
  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-show-slot]");
    if (!button) return;
    const next = hiddenSlots(button)[0];
    if (next) {
      next.hidden = false;
      const field = next.querySelector("input, textarea");
      if (field) field.focus();
    }
    button.hidden = hiddenSlots(button).length === 0;
  });
  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("[data-show-slot]").forEach((button) => {
      button.hidden = hiddenSlots(button).length === 0;
    });
  });
})();
