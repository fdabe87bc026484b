// Small form helpers.
// Copy buttons: <button data-copy="text">. Says "Copied" for a moment; where the clipboard API
// is refused (an http origin other than localhost), the text is selected for Ctrl+C instead.
(function () {
  "use strict";
  document.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-copy]");
    if (!button) return;
    const label = button.textContent;
    try {
      await navigator.clipboard.writeText(button.dataset.copy);
      button.textContent = "Copied";
    } catch (error) {
      const input = button.parentElement.querySelector("input");
      if (input) input.select();
      button.textContent = "Press Ctrl+C";
    }
    setTimeout(() => { button.textContent = label; }, 1500);
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
