// keystore-watch status page: progressive enhancement only (every page works without it).
//  - auto-refresh: re-fetches the page every data-refresh seconds and swaps <main>'s content in place,
//    so scroll position, the quick filter and the URL (the fleet's filters) survive; skipped while the
//    visitor is typing or has an action form open;
//  - the quick filter on the overview hides rows that do not contain the text;
//  - copy buttons copy a command block;
//  - relative times ("14 min ago") stay current;
//  - filter selects submit on change.
const main = document.getElementById('main');

function relative(ms, now) {
  const d = Math.round((now - ms) / 1000);
  const a = Math.abs(d);
  const text = a < 45 ? `${a} s` : a < 90 * 60 ? `${Math.round(a / 60)} min` : a < 36 * 3600 ? `${Math.round(a / 3600)} h` : `${Math.round(a / 86400)} d`;
  return d >= 0 ? `${text} ago` : `in ${text}`;
}

function tickTimes() {
  const now = Date.now();
  for (const el of document.querySelectorAll('.rel[data-t]')) el.textContent = relative(Number(el.dataset.t), now);
}

const FILTER_KEY = `kw-quick:${location.pathname}`;

function applyQuickFilter() {
  const input = document.querySelector('[data-quick-filter]');
  if (!input) return;
  const needle = input.value.trim().toLowerCase();
  for (const row of document.querySelectorAll('[data-filter-row]')) row.hidden = needle !== '' && !row.textContent.toLowerCase().includes(needle);
}

function enhance() {
  const input = document.querySelector('[data-quick-filter]');
  if (input) {
    input.value = sessionStorage.getItem(FILTER_KEY) ?? '';
    input.addEventListener('input', () => { sessionStorage.setItem(FILTER_KEY, input.value); applyQuickFilter(); });
    applyQuickFilter();
  }
  for (const sel of document.querySelectorAll('select[data-autosubmit]')) sel.addEventListener('change', () => sel.form?.requestSubmit());
  tickTimes();
}

document.addEventListener('click', async (ev) => {
  const btn = ev.target instanceof Element ? ev.target.closest('button[data-copy]') : null;
  if (!btn) return;
  const pre = document.getElementById(btn.dataset.copy);
  if (!pre) return;
  const label = btn.textContent;
  try {
    await navigator.clipboard.writeText(pre.textContent);
    btn.textContent = 'Copied';
  } catch {
    // No clipboard permission (plain HTTP): select the text so Ctrl-C copies it.
    const range = document.createRange();
    range.selectNodeContents(pre);
    const sel = getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
    btn.textContent = 'Selected: press Ctrl-C';
  }
  setTimeout(() => { btn.textContent = label; }, 2000);
});

function busy() {
  const a = document.activeElement;
  if (a && main.contains(a) && a.matches('input, textarea, select')) return true;
  return main.querySelector('details[open]') !== null || getSelection().toString() !== '';
}

async function refresh() {
  if (document.hidden || busy()) return;
  try {
    const res = await fetch(location.href, { headers: { accept: 'text/html' }, credentials: 'same-origin', cache: 'no-store' });
    if (!res.ok || res.redirected) return;
    const doc = new DOMParser().parseFromString(await res.text(), 'text/html');
    const next = doc.getElementById('main');
    if (!next || busy()) return;
    const x = scrollX, y = scrollY;
    main.replaceChildren(...next.childNodes);
    const status = doc.querySelector('.top .status');
    const here = document.querySelector('.top .status');
    if (status && here) here.replaceChildren(...status.childNodes);
    enhance();
    scrollTo(x, y);
  } catch {
    // The daemon restarting: try again at the next interval.
  }
}

enhance();
setInterval(tickTimes, 30_000);
const every = Number(document.body.dataset.refresh);
if (every > 0) setInterval(refresh, every * 1000);
