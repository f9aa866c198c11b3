import { describe, expect, it } from 'vitest'
import { ResponseWatch } from './responseWatch'

const DEADLINE = 5000

describe('ResponseWatch', () => {
  it('is never overdue when nothing was sent', () => {
    const w = new ResponseWatch()
    w.heard(100)
    expect(w.overdue(60_000, DEADLINE)).toBe(false)
  })

  it('counts from the first unanswered edit, not the latest', () => {
    const w = new ResponseWatch()
    w.sent(1000)
    w.sent(4000)
    expect(w.overdue(5999, DEADLINE)).toBe(false)
    expect(w.overdue(6000, DEADLINE)).toBe(true)
  })

  it('keeps running after an answer to an older edit arrives once the newest was sent', () => {
    // Edits at 1000 and 1500; the server echoes the first at 2000, then freezes.
    const w = new ResponseWatch()
    w.sent(1000)
    w.sent(1500)
    w.heard(2000)
    expect(w.overdue(6999, DEADLINE)).toBe(false)
    expect(w.overdue(7000, DEADLINE)).toBe(true)
  })

  it('is not overdue while the server keeps talking', () => {
    const w = new ResponseWatch()
    w.sent(0)
    for (let t = 1000; t <= 30_000; t += 1000) {
      w.heard(t)
      expect(w.overdue(t + 999, DEADLINE)).toBe(false)
    }
  })

  it('stops once everything is acknowledged, and starts again with the next edit', () => {
    const w = new ResponseWatch()
    w.sent(0)
    w.settled()
    expect(w.overdue(10_000, DEADLINE)).toBe(false)
    w.sent(20_000)
    expect(w.overdue(24_999, DEADLINE)).toBe(false)
    expect(w.overdue(25_000, DEADLINE)).toBe(true)
  })
})
