// The console's few behaviours, here rather than in on…= attributes so that the
// Content-Security-Policy can refuse every inline script (script-src 'self').
//
//   data-copy="<element id>"      copies that element's text, then says "Copied"
//                                 (data-copied holds the translated word)
//   data-close-dialog             closes the <dialog> around it instead of following the link
//   data-open-dialog="<id>"       after its htmx request, opens that <dialog> as a modal
//   data-collapse-below="<px>"    a <details> rendered open, closed on load when the
//                                 viewport is at most that wide (a phone)
//   data-language-switch          the language switcher's form: before it posts, what the
//                                 person typed into the page's other forms is kept in
//                                 sessionStorage, and put back when the same page (path and
//                                 query) comes back in the other language
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
  // Switching language reloads the page; fields the person changed but did not save
  // survive it. Passwords, files and hidden fields (CSRF tokens) are never stored.
  var UNSAVED = "hypereal.unsaved:";
  var SKIPPED = ["hidden", "password", "file", "submit", "button", "reset", "image"];

  function keptFields() {
    var forms = Array.prototype.slice.call(document.forms).filter(function (form) {
      return !form.hasAttribute("data-language-switch");
    });
    var kept = [];
    forms.forEach(function (form, formIndex) {
      Array.prototype.forEach.call(form.elements, function (field, fieldIndex) {
        if (!field.name || SKIPPED.indexOf(field.type) !== -1) {
          return;
        }
        var entry = { form: formIndex, field: fieldIndex, name: field.name };
        if (field.type === "checkbox" || field.type === "radio") {
          if (field.checked === field.defaultChecked) return;
          entry.checked = field.checked;
        } else if (field.tagName === "SELECT") {
          var changed = Array.prototype.some.call(field.options, function (option) {
            return option.selected !== option.defaultSelected;
          });
          if (!changed) return;
          entry.values = Array.prototype.filter.call(field.options, function (option) {
            return option.selected;
          }).map(function (option) { return option.value; });
        } else {
          if (field.value === field.defaultValue) return;
          entry.value = field.value;
        }
        kept.push(entry);
      });
    });
    return kept;
  }

  function restoreFields() {
    var key = UNSAVED + location.pathname + location.search;
    var stored;
    try {
      stored = JSON.parse(sessionStorage.getItem(key) || "null");
      sessionStorage.removeItem(key);
    } catch (error) {
      return;
    }
    if (!stored) return;
    var forms = Array.prototype.slice.call(document.forms).filter(function (form) {
      return !form.hasAttribute("data-language-switch");
    });
    stored.forEach(function (entry) {
      var form = forms[entry.form];
      var field = form && form.elements[entry.field];
      if (!field || field.name !== entry.name) return;
      if ("checked" in entry) {
        field.checked = entry.checked;
      } else if (entry.values) {
        Array.prototype.forEach.call(field.options, function (option) {
          option.selected = entry.values.indexOf(option.value) !== -1;
        });
      } else {
        field.value = entry.value;
      }
    });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.hasAttribute || !form.hasAttribute("data-language-switch")) return;
    var kept = keptFields();
    if (!kept.length) return;
    var next = form.elements.next ? form.elements.next.value : location.pathname + location.search;
    try {
      sessionStorage.setItem(UNSAVED + next, JSON.stringify(kept));
    } catch (error) {
      // Storage full or refused: the switch still happens, without the unsaved fields.
    }
  });

  function onReady() {
    collapseOnPhones();
    restoreFields();
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", onReady);
  } else {
    onReady();
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
