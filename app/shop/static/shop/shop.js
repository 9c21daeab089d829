// Progressive enhancement only: the server enforces every rule without this file.
(function () {
  "use strict";

  var POLL_INTERVAL_MS = 2000;
  var MAX_POLLS = 150;

  // While an order awaits Stripe's word, refresh My Orders so it turns paid on its own.
  function pollOrders(polls) {
    var section = document.querySelector('[data-testid="orders"]');
    if (!section || !section.dataset.pollUrl || polls >= MAX_POLLS) {
      return;
    }
    window.setTimeout(function () {
      fetch(section.dataset.pollUrl, { credentials: "same-origin" })
        .then(function (response) {
          return response.ok ? response.text() : Promise.reject(response.status);
        })
        .then(function (html) {
          section.outerHTML = html;
          pollOrders(polls + 1);
        })
        .catch(function () {
          pollOrders(polls + 1);
        });
    }, POLL_INTERVAL_MS);
  }

  // A second click would be harmless (the form's token makes it the same order); this spares the wait.
  document.addEventListener("submit", function (event) {
    var button = event.target.querySelector("button[type=submit]");
    if (button) {
      button.disabled = true;
      button.dataset.label = button.textContent;
      button.textContent = "Redirecting…";
    }
  });

  // The back button may restore this page from the cache with its buttons still disabled.
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("button[data-label]").forEach(function (button) {
      button.disabled = false;
      button.textContent = button.dataset.label;
    });
  });

  document.addEventListener("DOMContentLoaded", function () {
    pollOrders(0);
  });
})();
