import { HttpProvider } from './httpProviderBase'

/** Long polling: POST to open, GET with cursor to receive, POST to send, DELETE to leave. */
export class PollProvider extends HttpProvider {
  readonly transport = 'poll' as const
  cursor = 0
  private abort: AbortController | null = null
  private running = false
  private loopId = 0

  get url (): string {
    return `${this.baseUrl}/${encodeURIComponent(this.roomname)}`
  }

  connect (): void {
    this.shouldConnect = true
    if (this.running) return
    this.running = true
    void this.loop(++this.loopId)
  }

  private sleep (ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms))
  }

  private async openSession (): Promise<string> {
    const res = await this.fetchFn(this.openUrl(this.url), {
      method: 'POST', headers: this.headers(), signal: this.abort?.signal,
    })
    if (res.status === 401 || res.status === 403) {
      this.readOnly = true
      this.emit('permission-denied', [`HTTP ${res.status}`])
    }
    if (res.status !== 201 && res.status !== 200) throw new Error(`poll session: HTTP ${res.status}`)
    const body = await res.json() as { session: string }
    return String(body.session)
  }

  private async loop (id: number): Promise<void> {
    let failures = 0
    while (this.shouldConnect && id === this.loopId) {
      this.abort = new AbortController()
      try {
        if (this.session === null) {
          this.setStatus('connecting')
          const session = await this.openSession()
          if (!this.shouldConnect || id !== this.loopId) return
          this.cursor = 0
          this.onSessionStart(session)
        }
        const session = this.session!
        const res = await this.fetchFn(
          this.withToken(`${this.url}/${encodeURIComponent(session)}?cursor=${this.cursor}`),
          { headers: this.headers(), signal: this.abort.signal })
        if (!this.shouldConnect || id !== this.loopId) return
        if (res.status === 410 || res.status === 404) {
          this.session = null
          this.setStatus('disconnected')
          // A server that keeps forgetting sessions must not be hammered in a tight loop.
          failures++
          await this.sleep(this.retryIn(Math.min(this.maxBackoffMs, 50 * 2 ** failures)))
          continue
        }
        if (!res.ok) throw new Error(`poll: HTTP ${res.status}`)
        const body = await res.json() as { cursor: number, messages: string[] }
        if (!this.shouldConnect || id !== this.loopId) return
        failures = 0
        if (this.status !== 'connected') this.setStatus('connected')
        for (const m of body.messages ?? []) this.receive(m)
        if (typeof body.cursor === 'number') this.cursor = body.cursor
      } catch (err) {
        if (!this.shouldConnect || id !== this.loopId) return
        failures++
        this.emit('connection-error', [err])
        if (this.status === 'connected') this.emit('connection-close', [err])
        this.setStatus(this.session === null ? 'disconnected' : 'connecting')
        if (this.session === null || failures > 1) this.setStatus('disconnected')
        await this.sleep(this.retryIn(Math.min(this.maxBackoffMs, 200 * 2 ** failures)))
      }
    }
  }

  protected onSessionLost (): void {
    this.session = null
    this.abort?.abort()
    this.setStatus('disconnected')
    // The loop notices the missing session and opens a new one.
    if (this.shouldConnect && !this.running) this.connect()
  }

  disconnect (): void {
    this.shouldConnect = false
    this.running = false
    this.loopId++
    this.abort?.abort()
    if (this.session !== null) {
      const url = this.withToken(`${this.url}/${encodeURIComponent(this.session)}`)
      void this.fetchFn(url, { method: 'DELETE', headers: this.headers(), keepalive: true }).catch(() => {})
    }
    this.session = null
    this.setStatus('disconnected')
  }
}
