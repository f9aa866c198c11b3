// The metric names a PromQL expression reads, and the names a /metrics page exports: enough
// of PromQL to tell a metric from a function, a keyword, a label or a duration.

const KEYWORDS = new Set(['and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'group_left',
  'group_right', 'bool', 'offset', 'atan2', 'Inf', 'inf', 'NaN', 'nan'])

/** Grafana's variables as Prometheus would receive them. */
export function withGrafanaVariables (expr) {
  return expr
    .replace(/\$__(rate_interval|interval|range)\b/g, '1m')
    .replace(/\$\{[^}]*\}|\$\w+/g, '.*')
}

/** Every metric name `expr` reads (sorted, without repeats). */
export function metricNames (expr) {
  const bare = withGrafanaVariables(expr)
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""') // strings
    .replace(/\{[^}]*\}/g, ' ') // label matchers
    .replace(/\[[^\]]*\]/g, ' ') // ranges and subqueries
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ') // label lists
  const names = new Set()
  for (const m of bare.matchAll(/(?<![\w.:])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g)) {
    const [, name, call] = m
    if (call || KEYWORDS.has(name)) continue // a function or an aggregation, or a keyword
    names.add(name)
  }
  return [...names].sort()
}

/** Every expression of a Grafana dashboard: panel targets and query variables. */
export function dashboardQueries (dashboard) {
  const panels = (dashboard.panels ?? []).flatMap((p) => [p, ...(p.panels ?? [])])
  const exprs = panels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: `panel "${p.title}"`, expr: t.expr })))
  for (const v of dashboard.templating?.list ?? []) {
    if (v.type !== 'query') continue
    const q = typeof v.query === 'string' ? v.query : v.query?.query
    // label_values(METRIC, LABEL): the metric is what the variable reads
    const metric = q?.match(/^label_values\(\s*([^,)]+)\s*,/)?.[1]
    exprs.push({ where: `variable ${v.name}`, expr: metric ?? q })
  }
  return exprs
}

/** Every expression of a Prometheus rules file (parsed YAML). */
export function ruleQueries (rules) {
  return (rules.groups ?? []).flatMap((g) => g.rules.map((r) => ({ where: `rule ${r.alert ?? r.record}`, expr: r.expr })))
}

/** The metric names of a Prometheus text exposition (histograms as _bucket, _sum, _count). */
export function exportedNames (text) {
  const names = new Set()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const name = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)/)?.[1]
    if (name) names.add(name)
  }
  return names
}
