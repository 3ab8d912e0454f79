// The portal's one script, a progressive enhancement: every page works without it. It saves the
// certificate form as a draft while the officer types (the same POST as the Save button, with
// action=autosave), and follows a certificate's delivery until its receipt arrives. Same origin
// only (CSP connect-src 'self'); nothing from elsewhere.
'use strict';

(() => {
  const form = document.querySelector('form[data-autosave]');
  if (form && window.fetch && window.FormData) {
    const state = document.getElementById('autosave-state');
    let timer;
    let busy = false;
    const save = async () => {
      if (busy) return;
      busy = true;
      try {
        const body = new URLSearchParams(new FormData(form));
        body.set('action', 'autosave');
        // form.action would be the buttons named "action": the attribute is the URL.
        const response = await fetch(form.getAttribute('action'), { method: 'POST', body, credentials: 'same-origin', headers: { accept: 'application/json' } });
        if (!response.ok) return;
        const saved = await response.json();
        if (saved.draft) form.elements.draft.value = saved.draft;
        if (state) state.textContent = state.dataset.saved || state.textContent;
      } catch {
        // Offline or signed out: the next button press keeps what was typed (a draft, or after signing in).
      } finally {
        busy = false;
      }
    };
    form.addEventListener('input', () => {
      clearTimeout(timer);
      timer = setTimeout(save, 3000);
    });
  }

  const follow = document.querySelector('[data-follow]');
  if (follow && window.fetch) {
    let tries = 0;
    const poll = async () => {
      tries += 1;
      try {
        const response = await fetch(follow.dataset.follow, { credentials: 'same-origin', headers: { accept: 'application/json' } });
        if (!response.ok) return;
        const now = await response.json();
        const status = document.getElementById('status');
        if (status && now.statusText && !status.textContent.startsWith(now.statusText)) status.textContent = now.statusText;
        if (!now.delivery) return;
        const cell = follow.querySelector(`[data-message="${now.delivery.messageId}"]`);
        if (cell && cell.textContent !== now.delivery.text) {
          cell.textContent = now.delivery.text;
          cell.className = `delivery-${now.delivery.status}`;
        }
        if (now.delivery.final) return;
      } catch {
        // A failed poll is tried again below.
      }
      if (tries < 120) setTimeout(poll, Math.min(10000, 1000 * tries));
    };
    setTimeout(poll, 1000);
  }
})();
