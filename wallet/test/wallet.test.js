/** The wallet's flow against an in-memory issuer that checks every signature. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { FakeIssuer, memoryStore } from './fakeIssuer.js'
import { vectors } from './helpers.js'
import { Wallet, localDay } from '../src/app/wallet.js'
import { ApiError, OfflineError } from '../src/app/api.js'
import { CodeType } from '../src/protocol/presentation.js'
import { encode } from '../src/protocol/cbor.js'
import { importPublic, verify } from '../src/protocol/keys.js'
import { decode as b45decode } from 'base45-js'
import { decode } from 'cborg'

const NOON_KST = 1796223600 + 12 * 3600 // 2026-12-03 12:00 in Seoul

async function setup () {
  const clock = { t: NOON_KST }
  const issuer = await new FakeIssuer({ now: () => clock.t, haPublic: vectors.ha_key.public }).init()
  const store = memoryStore()
  const wallet = await new Wallet({ store, fetch: issuer.fetch, now: () => clock.t }).load()
  return { clock, issuer, store, wallet }
}

test('localDay gives the site calendar day', () => {
  assert.equal(localDay(NOON_KST, 'Asia/Seoul'), '2026-12-03')
  assert.equal(localDay(1796223600 - 1, 'Asia/Seoul'), '2026-12-02')
})

test('enrol fetches a week of day credentials, each with its own key and id', async () => {
  const { issuer, wallet, store } = await setup()
  await wallet.enrol({ phone: '+821012345678', name: '김민준', lang: 'ko' })
  assert.equal(wallet.enrolled, true)
  assert.equal(wallet.credentials.length, 7)
  assert.equal(new Set(wallet.credentials.map((c) => c.day)).size, 7)
  assert.equal(wallet.today().day, '2026-12-03')
  assert.equal(wallet.remainingDays(), 7)
  const enrol = issuer.log[0]
  assert.equal(enrol.type, 'wallet-enrol')
  assert.equal(enrol.contact.length, 433)
  assert.equal(enrol.phone, '+821012345678')
  const batch = issuer.log[1]
  assert.equal(batch.keys.length, 7)
  assert.equal(new Set(batch.keys.map((k) => Buffer.from(k).toString('hex'))).size, 7)
  assert.equal((await store.get('credentials')).length, 7)
  assert.equal(wallet.needsBatch(), false)
})

test('codes verify: wallet signature, code type, timestamp; a diagnostic code too', async () => {
  const { issuer, wallet, clock } = await setup()
  await wallet.enrol({ phone: '+821012345678', lang: 'en' })
  for (const codeType of [CodeType.CHECKIN, CodeType.DIAGNOSTIC]) {
    const code = await wallet.code(codeType)
    assert.match(code.text, /^SC1:[0-9A-Z $%*+\-./:]+$/)
    const [v, type, credential, ts, sig] = decode(b45decode(code.text.slice(4)))
    assert.deepEqual([v, type, ts], [1, codeType, clock.t])
    const walletKey = await importPublic(credential[2])
    assert.equal(await verify(walletKey, 'presentation', encode([v, type, credential, ts]), sig), true)
    const issuerKey = await importPublic(issuer.issuerPublic)
    assert.equal(await verify(issuerKey, 'credential', encode(credential.slice(0, 5)), credential[5]), true)
    assert.ok(code.text.length <= 300)
  }
})

test('the next day shows the next credential, and a new batch is asked for when under 2 days remain', async () => {
  const { wallet, clock, issuer } = await setup()
  await wallet.enrol({ phone: '+821012345678', lang: 'ko' })
  const first = wallet.today().credential[1]
  clock.t += 86400
  assert.notDeepEqual(wallet.today().credential[1], first)
  assert.equal(wallet.needsBatch(), false)
  clock.t += 5 * 86400 // the 7th day: one day left
  assert.equal(wallet.remainingDays(), 1)
  assert.equal(wallet.needsBatch(), true)
  await wallet.fetchBatch()
  assert.equal(wallet.remainingDays(), 7)
  assert.equal(wallet.credentials.length, 7) // today's old credential replaced by the new one
  assert.equal(wallet.needsBatch(), false)
  assert.equal(issuer.log.filter((m) => m.type === 'wallet-batch').length, 2)
})

test('a refused second batch on the same day backs off until Retry-After', async () => {
  const { wallet, clock } = await setup()
  await wallet.enrol({ phone: '+821012345678', lang: 'ko' })
  await wallet.setBatch({ day: '', retryAt: 0 }) // pretend the wallet forgot
  await assert.rejects(wallet.fetchBatch(), (err) => err instanceof ApiError && err.reason === 'batch_limit')
  assert.ok(wallet.batch.retryAt > clock.t)
  assert.equal(wallet.needsBatch(), false)
})

test('offline with no credential for today: OfflineError, and codes need no network', async () => {
  const { wallet, issuer, clock } = await setup()
  await wallet.enrol({ phone: '+821012345678', lang: 'ko' })
  issuer.offline = true
  assert.ok(await wallet.code())
  clock.t += 8 * 86400
  assert.equal(wallet.today(), null)
  assert.equal(wallet.ranOut(), true)
  await assert.rejects(wallet.fetchBatch(), OfflineError)
})

test('change of phone number sends a fresh sealed contact', async () => {
  const { wallet, issuer } = await setup()
  await wallet.enrol({ phone: '+821012345678', lang: 'ko' })
  const before = [...issuer.enrolments.values()][0].contact
  await wallet.changeContact({ phone: '+447911123456', lang: 'en' })
  const after = [...issuer.enrolments.values()][0]
  assert.equal(after.phone, '+447911123456')
  assert.notDeepEqual(after.contact, before)
})

test('leave revokes every held credential, deletes the enrolment and wipes the store', async () => {
  const { wallet, issuer, store } = await setup()
  await wallet.enrol({ phone: '+821012345678', lang: 'ko' })
  const ids = wallet.credentials.map((c) => Buffer.from(c.credential[1]).toString('hex'))
  await wallet.leave()
  assert.deepEqual([...issuer.revoked].sort(), ids.sort())
  assert.equal(issuer.enrolments.size, 0)
  assert.equal(store.data.size, 0)
  assert.equal(wallet.enrolled, false)
})

test('an enrolment deleted on the server makes the wallet forget itself', async () => {
  const { wallet, issuer, clock } = await setup()
  await wallet.enrol({ phone: '+821012345678', lang: 'ko' })
  issuer.enrolments.clear()
  clock.t += 6 * 86400
  await assert.rejects(wallet.fetchBatch(), (err) => err.reason === 'unknown_enrolment')
  assert.equal(wallet.enrolled, false)
})

test('a device clock off by minutes is corrected from the server Date header', async () => {
  const { issuer, store } = await setup()
  const deviceClock = () => NOON_KST - 300 // five minutes slow
  issuer.now = () => NOON_KST
  const wallet = await new Wallet({ store, fetch: issuer.fetch, now: deviceClock }).load()
  await wallet.fetchInfo()
  assert.equal(wallet.now(), NOON_KST)
  await wallet.enrol({ phone: '+821012345678', lang: 'ko' }) // the issuer would refuse a stale ts
  assert.equal(wallet.credentials.length, 7)
})
