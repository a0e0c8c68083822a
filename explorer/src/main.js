/**
 * The "check a receipt" form on /ledger/check (aggregator/explorer_app): runs checkReceipt
 * in the browser and shows "verified in your browser" or which step failed and why.
 *
 * The page supplies the form (#check-form, #checkin-id, #vkey, #witnesses, #check-submit), the result
 * region (#result, role=status) and its strings as JSON in #explorer-strings (one table,
 * aggregator/explorer_app/strings.py, in the page's language). #result[data-state] is
 * `idle`, `busy`, `ok` or `fail` (and #result[data-reason] the failure's code) for tests.
 */
import { checkReceipt } from './check.js'

const STEPS = ['key', 'checkpoint', 'proof', 'inclusion', 'witnesses']

function el (tag, attrs = {}, ...children) {
  const node = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v)
  for (const child of children) node.append(child)
  return node
}

function facts (t, result) {
  const rows = [
    ['fact.checkin', result.checkinId],
    ['fact.kind', t(`kind.${result.kind}`)],
    ['fact.leaf_index', String(result.leafIndex)],
    ['fact.block', result.blockHeight === null ? '—' : String(result.blockHeight)],
    ['fact.tree_size', result.treeSize],
    ['fact.root', result.root],
    ['fact.leaf_hash', result.leafHash],
    ['fact.proof_length', String(result.proofLength)],
    ['fact.signer', `${result.origin} (${result.keyId})`]
  ]
  const dl = el('dl', { class: 'facts' })
  for (const [key, value] of rows) dl.append(el('dt', {}, t(key)), el('dd', { class: 'hash' }, value))
  return dl
}

function witnessList (t, witnessed) {
  const section = el('section', { id: 'witnessed', 'aria-labelledby': 'witnessed-title' }, el('h3', { id: 'witnessed-title' }, t('check.witnessed')))
  if (witnessed.cosignedSize === null) {
    section.append(el('p', {}, t('check.no_witnessed')))
    return section
  }
  section.append(el('p', {}, `${t('fact.cosigned_size')}: ${witnessed.cosignedSize}`))
  const ul = el('ul', { class: 'steps' })
  for (const w of witnessed.witnesses) {
    const when = w.timestamp === null ? '' : ` (${new Date(w.timestamp * 1000).toISOString().slice(0, 19).replace('T', ' ')} UTC)`
    ul.append(el('li', { 'data-witness': w.name, 'data-state': w.ok ? 'ok' : 'fail' }, el('span', { 'aria-hidden': 'true', class: 'mark' }, w.ok ? '✓' : '✗'), ` ${w.name}: ${t(w.ok ? 'witness.ok' : 'witness.bad')}${w.ok ? when : ''}`))
  }
  section.append(ul)
  return section
}

function stepList (t, done, failed, steps) {
  const ol = el('ol', { class: 'steps' })
  for (const step of steps) {
    const state = step === failed ? 'fail' : done.includes(step) ? 'ok' : 'todo'
    const mark = { ok: '✓', fail: '✗', todo: '·' }[state]
    ol.append(el('li', { 'data-step': step, 'data-state': state }, el('span', { 'aria-hidden': 'true', class: 'mark' }, mark), ` ${t(`step.${step}`)} `, el('span', { class: 'visually-hidden' }, t(`state.${state}`))))
  }
  return ol
}

export function start (doc = document) {
  const form = doc.getElementById('check-form')
  const result = doc.getElementById('result')
  const strings = JSON.parse(doc.getElementById('explorer-strings').textContent)
  const t = (key) => strings[key] ?? key
  if (!form || !result) return
  if (!globalThis.crypto || !globalThis.crypto.subtle) {
    result.dataset.state = 'fail'
    result.dataset.reason = 'unsupported'
    result.replaceChildren(el('p', { class: 'verdict fail' }, t('reason.unsupported')))
    return
  }
  form.addEventListener('submit', async (event) => {
    event.preventDefault()
    const button = doc.getElementById('check-submit')
    const done = []
    let current = null
    const steps = (doc.getElementById('witnesses')?.value || '').trim() ? STEPS : STEPS.slice(0, -1)
    result.dataset.state = 'busy'
    delete result.dataset.reason
    result.replaceChildren(el('p', {}, t('check.busy')))
    button.disabled = true
    try {
      const outcome = await checkReceipt({
        checkinId: doc.getElementById('checkin-id').value,
        vkey: doc.getElementById('vkey').value,
        witnesses: doc.getElementById('witnesses')?.value || '',
        onStep: (step) => { if (current) done.push(current); current = step }
      })
      done.push(current)
      result.dataset.state = 'ok'
      result.replaceChildren(el('h2', { class: 'verdict ok', tabindex: '-1' }, '✓ ', t('check.ok')), el('p', {}, t('check.ok_detail')), stepList(t, done, null, steps), facts(t, outcome))
      if (outcome.witnessed) result.append(witnessList(t, outcome.witnessed))
    } catch (err) {
      const reason = err && err.reason ? err.reason : 'internal'
      result.dataset.state = 'fail'
      result.dataset.reason = reason
      const failed = ['bad_id', 'bad_witness_key'].includes(reason) ? null : current
      result.replaceChildren(
        el('h2', { class: 'verdict fail', tabindex: '-1' }, '✗ ', t('check.fail')),
        el('p', { class: 'reason' }, t(`reason.${reason}`)),
        stepList(t, done, failed, steps),
        el('p', { class: 'detail' }, err && err.detail ? err.detail : String(err))
      )
    } finally {
      button.disabled = false
      result.querySelector('h2')?.focus()
    }
  })
  result.dataset.state = 'idle'
}

if (typeof document !== 'undefined') start()
