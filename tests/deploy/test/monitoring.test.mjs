// deploy/grafana/tandem.json and deploy/prometheus/alerts.yml against the server they watch:
// promtool checks and unit-tests the alert rules; every metric the dashboard and the rules
// read is on a live server's /metrics after real traffic; and a real Prometheus scraping that
// server evaluates every dashboard query (each panel shows data) and every rule (healthy).

import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import YAML from 'yaml'

import { dashboardQueries, exportedNames, metricNames, ruleQueries, withGrafanaVariables } from '../lib/promql.mjs'
import { connectClient, httpGet, repoRoot, sleep, startServer, waitFor } from '../lib/tandem.mjs'

const dashboardPath = path.join(repoRoot, 'deploy', 'grafana', 'tandem.json')
const alertsPath = path.join(repoRoot, 'deploy', 'prometheus', 'alerts.yml')
const dashboard = JSON.parse(readFileSync(dashboardPath, 'utf8'))
const rules = YAML.parse(readFileSync(alertsPath, 'utf8'))
const panels = dashboard.panels.filter((p) => p.type !== 'row')

/** Series Prometheus makes itself for each target, not the server. */
const MADE_BY_PROMETHEUS = new Set(['up'])

const promtoolSkip = spawnSync('promtool', ['--version']).status === 0 ? false : 'promtool is not installed (Debian: apt-get install prometheus)'
const prometheusSkip = spawnSync('prometheus', ['--version']).status === 0 ? false : 'prometheus is not installed (Debian: apt-get install prometheus)'

it('the dashboard has the panels an operator looks for, each on the Prometheus data source', () => {
  const titles = panels.map((p) => p.title)
  for (const want of ['Connections', 'Documents loaded', 'Delivery rate', 'Commit latency (p50, p99)',
    'Commit latency histogram', 'Refusals by limit', 'Database', 'Bus state', 'Memory']) {
    assert.ok(titles.includes(want), `no panel "${want}" in ${titles.join(', ')}`)
  }
  assert.equal(new Set(dashboard.panels.map((p) => p.id)).size, dashboard.panels.length, 'panel ids must be unique')
  const source = dashboard.templating.list.find((v) => v.type === 'datasource')
  assert.equal(source?.query, 'prometheus')
  for (const p of panels) {
    assert.ok(p.targets?.length > 0, `panel "${p.title}" has no query`)
    for (const t of p.targets) {
      assert.equal(t.datasource?.uid, `\${${source.name}}`, `panel "${p.title}" must use the data source variable`)
      assert.ok(t.expr?.trim(), `panel "${p.title}" has an empty query`)
    }
  }
  const latency = panels.find((p) => p.title === 'Commit latency (p50, p99)').targets.map((t) => t.expr).join('\n')
  assert.match(latency, /histogram_quantile\(0\.5,[^\n]*tandem_persist_seconds_bucket/)
  assert.match(latency, /histogram_quantile\(0\.99,[^\n]*tandem_persist_seconds_bucket/)
})

it('the alerts cover the database, commit latency, refusals, the bus and memory', () => {
  const names = ruleQueries(rules).map((r) => r.where)
  for (const a of ['TandemDatabaseDown', 'TandemDatabaseDegraded', 'TandemCommitLatencyHigh',
    'TandemRefusalsRising', 'TandemBusDisconnected', 'TandemMemoryNearLimit']) {
    assert.ok(names.includes(`rule ${a}`), `no alert ${a}`)
  }
})

it('promtool check rules accepts alerts.yml', { skip: promtoolSkip }, () => {
  const r = spawnSync('promtool', ['check', 'rules', alertsPath], { encoding: 'utf8', timeout: 60000 })
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`)
})

it('promtool test rules: each alert fires for the instance in trouble only (alerts.test.yml)', { skip: promtoolSkip }, () => {
  const r = spawnSync('promtool', ['test', 'rules', 'alerts.test.yml'], {
    cwd: path.dirname(alertsPath), encoding: 'utf8', timeout: 120000
  })
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`)
})

it('the PromQL scan finds the metric names of an expression', () => {
  // so that an empty scan cannot pass the checks below
  assert.deepEqual(metricNames('histogram_quantile(0.99, sum by (instance, le) (rate(tandem_persist_seconds_bucket{instance=~"$instance"}[$__rate_interval]))) > 0.5'),
    ['tandem_persist_seconds_bucket'])
  assert.deepEqual(metricNames('a_total == 0 and on (job, instance) b == 1 or c offset 10m / ignoring(le) d'), ['a_total', 'b', 'c', 'd'])
  assert.deepEqual(metricNames('sum(rate(x_total{l="by (y)"}[1h] offset 10m)) without (z)'), ['x_total'])
})

/** A free loopback port. */
function freePort () {
  return new Promise((resolve, reject) => {
    const srv = net.createServer().once('error', reject)
    srv.listen(0, '127.0.0.1', () => { const { port } = srv.address(); srv.close(() => resolve(port)) })
  })
}

describe('against a live server', { timeout: 180000 }, () => {
  let dir = null
  let server = null
  let scraped = null

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'tandem-deploy-monitoring-'))
    server = await startServer({ dataDir: path.join(dir, 'data') })
    // real traffic, so that the commit histograms have counts and the counters move
    const a = connectClient(server.url, 'monitoring-check')
    const b = connectClient(server.url, 'monitoring-check')
    try {
      await Promise.all([a.synced(), b.synced()])
      for (let i = 0; i < 20; i++) { a.text.insert(0, `edit ${i} `); await sleep(20) }
      await waitFor('the edits at the second client', () => b.text.length === a.text.length)
      await waitFor('a commit in the histogram', async () =>
        /^tandem_persist_seconds_count [1-9]/m.test((await httpGet(`${server.url}/metrics`)).body))
    } finally {
      a.destroy()
      b.destroy()
    }
    scraped = exportedNames((await httpGet(`${server.url}/metrics`)).body)
  })

  after(async () => {
    await server?.stop()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  /** Names `queries` read that the server does not export: "name (where)". */
  function unknown (queries) {
    const found = queries.flatMap(({ where, expr }) => metricNames(expr).map((name) => ({ name, where })))
    assert.ok(found.length >= queries.length, `the scan found only ${found.length} names in ${queries.length} queries`)
    return found.filter(({ name }) => !scraped.has(name) && !MADE_BY_PROMETHEUS.has(name)).map(({ name, where }) => `${name} (${where})`)
  }

  it('every metric the dashboard queries is on /metrics', () => {
    assert.ok(scraped.has('tandem_persist_seconds_bucket'), 'the scrape has no commit histogram')
    assert.deepEqual(unknown(dashboardQueries(dashboard)), [])
  })

  it('every metric the alerts read is on /metrics', () => {
    assert.deepEqual(unknown(ruleQueries(rules)), [])
  })

  it('a real Prometheus scraping it shows data in every panel and evaluates every rule', { skip: prometheusSkip }, async () => {
    const port = await freePort()
    const target = new URL(server.url).host
    const config = path.join(dir, 'prometheus.yml')
    writeFileSync(config, YAML.stringify({
      global: { scrape_interval: '1s', evaluation_interval: '1s' },
      rule_files: [alertsPath],
      scrape_configs: [{ job_name: 'tandem', static_configs: [{ targets: [target] }] }]
    }))
    const prom = spawn('prometheus', [`--config.file=${config}`, `--storage.tsdb.path=${path.join(dir, 'tsdb')}`,
      `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'], { stdio: ['ignore', 'ignore', 'pipe'] })
    let log = ''
    prom.stderr.on('data', (d) => { log = (log + d).slice(-8000) })
    const gone = new Promise((resolve) => prom.once('exit', resolve))
    const api = async (p) => JSON.parse((await httpGet(`http://127.0.0.1:${port}${p}`)).body)
    const query = (expr) => api(`/api/v1/query?query=${encodeURIComponent(withGrafanaVariables(expr))}`)
    try {
      await waitFor('Prometheus to scrape the server 3 times', async () => {
        const r = await query('count_over_time(up{job="tandem"}[1m])')
        return Number(r.data?.result?.[0]?.value?.[1]) >= 3
      }, { timeoutMs: 60000, intervalMs: 500 }).catch((err) => { throw new Error(`${err.message}\n${log}`) })

      const empty = []
      for (const p of panels) {
        let rows = 0
        for (const t of p.targets) {
          const r = await query(t.expr)
          assert.equal(r.status, 'success', `panel "${p.title}": ${t.expr}: ${r.error}`)
          rows += r.data.result.length
        }
        if (rows === 0) empty.push(p.title)
      }
      assert.deepEqual(empty, [], 'panels without data')

      const evaluated = await waitFor('every rule evaluated', async () => {
        const r = await api('/api/v1/rules')
        const all = r.data.groups.flatMap((g) => g.rules)
        return all.length > 0 && all.every((x) => x.lastEvaluation && !x.lastEvaluation.startsWith('0001')) && all
      }, { timeoutMs: 30000, intervalMs: 500 })
      assert.equal(evaluated.length, ruleQueries(rules).length)
      for (const x of evaluated) assert.equal(x.health, 'ok', `rule ${x.name}: ${x.lastError}`)
      // a healthy single server on a working database: nothing fires
      assert.deepEqual(evaluated.filter((x) => x.state !== 'inactive').map((x) => x.name), [])
    } finally {
      prom.kill('SIGTERM')
      await Promise.race([gone, sleep(10000)])
      if (prom.exitCode === null && prom.signalCode === null) prom.kill('SIGKILL')
    }
  })
})
