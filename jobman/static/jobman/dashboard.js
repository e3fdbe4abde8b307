// Refresh the jobs dashboard in place: fetch the page again and swap in its figures.
// The server escapes every value; nodes parsed by DOMParser never run scripts.
(function () {
  "use strict";

  function current() {
    return document.getElementById("jobman-figures");
  }

  const first = current();
  if (!first) {
    return;
  }
  const seconds = parseInt(first.dataset.refresh || "0", 10);
  if (!(seconds > 0)) {
    return;
  }

  function say(text) {
    const state = current().querySelector(".jobman-refresh-state");
    if (state) {
      state.textContent = text;
    }
  }

  let busy = false;

  async function refresh() {
    if (busy || document.hidden) {
      return;
    }
    busy = true;
    try {
      const response = await fetch(window.location.href, {
        credentials: "same-origin",
        headers: { Accept: "text/html" },
        cache: "no-store",
      });
      const fresh = response.ok
        ? new DOMParser()
            .parseFromString(await response.text(), "text/html")
            .getElementById("jobman-figures")
        : null;
      if (fresh) {
        current().replaceWith(document.importNode(fresh, true));
      } else {
        say("Could not refresh (HTTP " + response.status + "); the figures above are older.");
      }
    } catch (error) {
      say("Could not refresh; the figures above are older.");
    } finally {
      busy = false;
    }
  }

  window.setInterval(refresh, seconds * 1000);
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) {
      refresh();
    }
  });
})();
