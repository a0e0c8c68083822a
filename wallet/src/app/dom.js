/** A tiny element builder: text always goes in as textContent, never as HTML. */

/**
 * @param {string} tag
 * @param {Record<string, any>} [props] `text`, `on<event>`, `dataset`, or attributes
 * @param {...(Node|string|null|false|undefined)} children
 * @returns {HTMLElement}
 */
export function h (tag, props = {}, ...children) {
  const el = document.createElement(tag)
  for (const [name, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue
    if (name === 'text') el.textContent = String(value)
    else if (name.startsWith('on')) el.addEventListener(name.slice(2), value)
    else if (name === 'dataset') Object.assign(el.dataset, value)
    else if (name === 'value') /** @type {HTMLInputElement} */ (el).value = value
    else if (name === 'checked') /** @type {HTMLInputElement} */ (el).checked = Boolean(value)
    else el.setAttribute(name, value === true ? '' : String(value))
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue
    el.append(typeof child === 'string' ? document.createTextNode(child) : child)
  }
  return el
}
