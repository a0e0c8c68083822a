/**
 * Why a check failed: a short `reason` code (the page shows its translation) and a detail
 * in English for the curious (shown small, never as the verdict).
 */
export class VerifyError extends Error {
  constructor (reason, detail = '') {
    super(detail ? `${reason}: ${detail}` : reason)
    this.name = 'VerifyError'
    this.reason = reason
    this.detail = detail
  }
}
