// What an htmx request does when the server says no (4xx, 5xx) or cannot be reached.
//
// The one rule: a refusal never replaces more than the part that asked. A view that refuses a
// form answers with the form's own fragment, its errors in place: that fragment is swapped in,
// where the view names it (HX-Retarget, HX-Reswap: lib.htmx.htmx_refuse) or into the request's
// own target. A whole document (an expired CSRF token's page, a 404, a server error) or a line
// of text (a form sent twice) is never swapped: its message is shown above the form instead.
(function () {
  "use strict";
  const MAX_MESSAGE = 400;

  function messageOf(xhr) {
    const type = xhr.getResponseHeader("Content-Type") || "";
    const text = xhr.responseText || "";
    if (type.startsWith("text/html") && text) {
      // Our error pages (templates/4xx.html, 500.html) say what happened in [data-error-page].
      const doc = new DOMParser().parseFromString(text, "text/html");
      const page = doc.querySelector("[data-error-page], [role=alert], .error");
      if (page) {
        const head = page.querySelector("h1");
        const body = page.querySelector("p");
        const parts = [head && head.textContent.trim(), body && body.textContent.trim()];
        const said = parts.filter(Boolean).join(": ") || page.textContent.trim();
        if (said) return said.slice(0, MAX_MESSAGE);
      }
    } else if (text.trim()) {
      return text.trim().slice(0, MAX_MESSAGE);
    }
    if (xhr.status >= 500) return `The server failed (${xhr.status}); nothing was changed. Try again in a moment.`;
    return `Refused (${xhr.status}); nothing was changed. Reload the page and try again.`;
  }

  function isFragment(xhr) {
    const type = xhr.getResponseHeader("Content-Type") || "";
    return type.startsWith("text/html") && !/<html[\s>]|<!doctype/i.test(xhr.responseText || "");
  }

  // Above the form that asked (or the element, for a form-less one), replacing an earlier one.
  function showRefusal(elt, message) {
    const form = elt && elt.closest && elt.closest("form");
    const host = form || (elt && elt !== document.body ? elt : document.querySelector("main"));
    const inside = host === form || host.tagName === "MAIN";
    const earlier = inside ? host.firstElementChild : host.previousElementSibling;
    let box = earlier && earlier.hasAttribute("data-refusal") ? earlier : null;
    if (!box) {
      box = document.createElement("p");
      box.className = "error small";
      box.setAttribute("role", "alert");
      box.setAttribute("data-refusal", "");
      box.setAttribute("data-testid", "refusal");
      if (inside) host.prepend(box);
      else host.insertAdjacentElement("beforebegin", box);
    }
    box.textContent = message;
  }

  document.addEventListener("htmx:beforeSwap", (event) => {
    const detail = event.detail;
    const xhr = detail.xhr;
    if (xhr.status < 400) return;
    if (xhr.getResponseHeader("HX-Retarget") || isFragment(xhr)) {
      // The form's own fragment, errors included: it replaces the form and nothing else.
      detail.shouldSwap = true;
      detail.isError = false;
      return;
    }
    detail.shouldSwap = false;
    showRefusal(detail.requestConfig && detail.requestConfig.elt, messageOf(xhr));
  });

  document.addEventListener("htmx:sendError", (event) => {
    showRefusal(event.detail.elt, "The dashboard could not be reached; nothing was sent. Check the connection and try again.");
  });

  // A form that swapped its fragment back in clears an earlier refusal of the same form.
  document.addEventListener("htmx:beforeRequest", (event) => {
    const elt = event.detail.elt;
    const form = elt && elt.closest && elt.closest("form");
    const earlier = form ? form.firstElementChild : elt && elt.previousElementSibling;
    if (earlier && earlier.hasAttribute("data-refusal")) earlier.remove();
  });
})();
