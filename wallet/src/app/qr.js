/**
 * The QR code on screen: dark modules on white with a 4-module quiet zone, drawn on a
 * canvas at a whole number of device pixels per module so every module edge is sharp.
 */
import qrcode from 'qrcode-generator'

/**
 * The error-correction level: one constant. "L" puts today's ~297-character code in
 * version 9 (53 modules); "M" needs version 11. The "browser" benchmark measures which
 * level the door camera reads best, and the lead sets it here.
 */
export const ERROR_CORRECTION = 'L'
export const QUIET_ZONE = 4

/**
 * The QR matrix for `text` (alphanumeric mode: the SC1: text uses only that alphabet).
 * @param {string} text
 */
export function matrix (text) {
  const qr = qrcode(0, ERROR_CORRECTION)
  qr.addData(text, /^[0-9A-Z $%*+\-./:]*$/.test(text) ? 'Alphanumeric' : 'Byte')
  qr.make()
  const size = qr.getModuleCount()
  return { size, version: (size - 17) / 4, isDark: (/** @type {number} */ r, /** @type {number} */ c) => qr.isDark(r, c) }
}

/**
 * Draw `text` into `canvas`, at most `cssSize` CSS pixels wide.
 * @param {HTMLCanvasElement} canvas
 * @param {string} text
 * @param {number} cssSize
 */
export function draw (canvas, text, cssSize) {
  const m = matrix(text)
  const total = m.size + 2 * QUIET_ZONE
  const ratio = window.devicePixelRatio || 1
  const scale = Math.max(1, Math.floor((cssSize * ratio) / total))
  const px = total * scale
  canvas.width = px
  canvas.height = px
  canvas.style.width = `${px / ratio}px`
  canvas.style.height = `${px / ratio}px`
  const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d', { alpha: false }))
  ctx.fillStyle = '#fff'
  ctx.fillRect(0, 0, px, px)
  ctx.fillStyle = '#000'
  for (let r = 0; r < m.size; r++) {
    for (let c = 0; c < m.size; c++) {
      if (m.isDark(r, c)) ctx.fillRect((c + QUIET_ZONE) * scale, (r + QUIET_ZONE) * scale, scale, scale)
    }
  }
  canvas.dataset.version = String(m.version)
  canvas.dataset.level = ERROR_CORRECTION
  return m.version
}
