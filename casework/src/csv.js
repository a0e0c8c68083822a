/**
 * The exposure list as CSV (RFC 4180: CRLF line ends, a cell with a comma, quote, CR or
 * LF in double quotes, quotes doubled). A cell beginning with `=`, `+`, `-`, `@`, tab or
 * carriage return gets a leading `'` first, so a spreadsheet never runs it as a formula.
 * Times are ISO 8601 to the second with the offset of the issuer's time zone; overlap is
 * whole minutes, rounded down. authority/csv_export.py writes the same bytes
 * (protocol/vectors/casework.json).
 */
export const COLUMNS = ['venue', 'case_start', 'case_end', 'exposed_start', 'exposed_end', 'overlap_minutes', 'code_type', 'name', 'phone', 'language']
const FORMULA = /^[=+\-@\t\r]/
const QUOTE = /[",\r\n]/

/** @param {string} text */
export function csvCell (text) {
  let cell = String(text)
  if (FORMULA.test(cell)) cell = "'" + cell
  return QUOTE.test(cell) ? '"' + cell.replace(/"/g, '""') + '"' : cell
}

/**
 * `ms` as `YYYY-MM-DDTHH:MM:SS+HH:MM` in the IANA zone `tz` (seconds truncated).
 * @param {number} ms
 * @param {string} tz
 */
export function isoInZone (ms, tz) {
  const seconds = Math.floor(ms / 1000) * 1000
  const parts = {}
  const format = new Intl.DateTimeFormat('en-US', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' })
  for (const { type, value } of format.formatToParts(new Date(seconds))) parts[type] = value
  const local = Date.UTC(+parts.year, +parts.month - 1, +parts.day, +parts.hour, +parts.minute, +parts.second)
  const offset = Math.round((local - seconds) / 60000)
  const sign = offset < 0 ? '-' : '+'
  const abs = Math.abs(offset)
  const hhmm = `${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`
  return `${parts.year.padStart(4, '0')}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}:${parts.second}${sign}${hhmm}`
}

/**
 * One CSV row per exposure (and contact): rows hold the API's exposure fields plus
 * `name`, `phone`, `language` (empty text when unknown).
 * @param {Array<Record<string, any>>} rows
 * @param {string} tz
 */
export function exposureCsv (rows, tz) {
  const lines = [COLUMNS.join(',')]
  for (const r of rows) {
    const cells = [
      r.venue,
      isoInZone(r.case_start_ms, tz),
      isoInZone(r.case_end_ms, tz),
      isoInZone(r.start_ms, tz),
      isoInZone(r.end_ms, tz),
      String(Math.floor(r.overlap_s / 60)),
      r.code_type,
      r.name ?? '',
      r.phone ?? '',
      r.language ?? ''
    ]
    lines.push(cells.map(csvCell).join(','))
  }
  return lines.join('\r\n') + '\r\n'
}
