// The console's few behaviours, here rather than in on…= attributes so that the
// Content-Security-Policy can refuse every inline script (script-src 'self').
//
//   data-copy="<element id>"      copies that element's text, then says "Copied"
//                                 (data-copied holds the translated word)
//   data-close-dialog             closes the <dialog> around it instead of following the link
//   data-open-dialog="<id>"       after its htmx request, opens that <dialog> as a modal
//   data-collapse-below="<px>"    a <details> rendered open, closed on load when the
//                                 viewport is at most that wide (a phone)
(function () {
  "use strict";

  function collapseOnPhones() {
    document.querySelectorAll("details[data-collapse-below]").forEach(function (details) {
      var width = parseInt(details.dataset.collapseBelow, 10);
      if (window.matchMedia("(max-width: " + width + "px)").matches) {
        details.open = false;
      }
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", collapseOnPhones);
  } else {
    collapseOnPhones();
  }

  document.addEventListener("click", function (event) {
    var copy = event.target.closest("[data-copy]");
    if (copy) {
      var source = document.getElementById(copy.dataset.copy);
      if (source && navigator.clipboard) {
        navigator.clipboard.writeText(source.textContent).then(function () {
          copy.textContent = copy.dataset.copied || "Copied";
        });
      }
      return;
    }
    var closer = event.target.closest("[data-close-dialog]");
    if (closer) {
      var dialog = closer.closest("dialog");
      if (dialog) {
        event.preventDefault();
        dialog.close();
      }
    }
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    var opener = event.detail && event.detail.elt;
    if (opener && opener.dataset && opener.dataset.openDialog) {
      var dialog = document.getElementById(opener.dataset.openDialog);
      if (dialog && !dialog.open) {
        dialog.showModal();
      }
    }
  });
})();
