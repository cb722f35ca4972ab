// A tiny element builder: text always goes in as text, never as HTML.

/**
 * Create an element. Props: `class`, `text`, `on<Event>` handlers, `dataset`, anything else as an attribute
 * (false/null/undefined leave it off). Children: nodes, strings, or nested arrays; null is skipped.
 * @param {string} tag
 * @param {Record<string, any>} [props]
 * @param {...any} children
 * @returns {HTMLElement}
 */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") element.className = value;
    else if (key === "text") element.textContent = String(value);
    else if (key === "dataset") Object.assign(element.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") element.addEventListener(key.slice(2).toLowerCase(), value);
    else element.setAttribute(key, value === true ? "" : String(value));
  }
  append(element, children);
  return element;
}

function append(/** @type {Node} */ parent, /** @type {any[]} */ children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(parent, child);
    else parent.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace everything inside `parent` with `children`. */
export function mount(/** @type {Element} */ parent, /** @type {any[]} */ ...children) {
  parent.replaceChildren();
  append(parent, children);
}

/** Call `fn` once `ms` have passed without another call. */
export function debounce(/** @type {(...args: any[]) => void} */ fn, /** @type {number} */ ms) {
  /** @type {number | undefined} */
  let timer;
  return (/** @type {any[]} */ ...args) => {
    window.clearTimeout(timer);
    timer = window.setTimeout(() => fn(...args), ms);
  };
}
