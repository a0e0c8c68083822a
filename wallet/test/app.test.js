/** The page's pure parts: message tables, language choice, QR sizing. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { LANGUAGES, MESSAGES, pickLanguage, t } from '../src/app/i18n.js'
import { ERROR_CORRECTION, matrix } from '../src/app/qr.js'
import { vectors } from './helpers.js'

test('every language has every message, with the same placeholders', () => {
  const keys = Object.keys(MESSAGES.en).sort()
  for (const lang of LANGUAGES) {
    assert.deepEqual(Object.keys(MESSAGES[lang]).sort(), keys, lang)
    for (const key of keys) {
      const holes = (s) => (s.match(/\{\w+\}/g) || []).sort()
      assert.deepEqual(holes(MESSAGES[lang][key]), holes(MESSAGES.en[key]), `${lang}.${key}`)
    }
  }
})

test('the language follows the browser, Korean by default', () => {
  assert.equal(pickLanguage(['en-GB', 'ko']), 'en')
  assert.equal(pickLanguage(['ko-KR']), 'ko')
  assert.equal(pickLanguage(['fr-FR', 'de']), 'ko')
  assert.equal(pickLanguage([]), 'ko')
  assert.equal(t('en', 'nextCode', { s: 7 }), 'New code in 7 s')
  assert.equal(t('xx', 'nextCode', { s: 7 }), '7초 후 새 코드')
})

test('a day code fits QR version 9 at the default level L', () => {
  assert.equal(ERROR_CORRECTION, 'L')
  for (const v of vectors.presentations) {
    assert.equal(v.text.length, 297)
    const m = matrix(v.text)
    assert.equal(m.version, 9)
    assert.equal(m.size, 53)
  }
})
