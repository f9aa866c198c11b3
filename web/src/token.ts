export interface TokenClaims {
  doc?: string
  access?: 'read' | 'write' | string
  exp?: number
  name?: string
}

function base64UrlDecode(part: string): string {
  let b64 = part.replace(/-/g, '+').replace(/_/g, '/')
  while (b64.length % 4 !== 0) b64 += '='
  const bin = atob(b64)
  const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0))
  return new TextDecoder().decode(bytes)
}

/**
 * Reads the JWT payload without verifying it: the server does the verification, the client only
 * needs the claims to adapt the UI (read-only badge, presence name) before the server says so.
 */
export function parseTokenClaims(token: string | null | undefined): TokenClaims | null {
  if (!token) return null
  const parts = token.split('.')
  if (parts.length !== 3) return null
  try {
    const claims = JSON.parse(base64UrlDecode(parts[1]))
    return claims !== null && typeof claims === 'object' ? claims as TokenClaims : null
  } catch {
    return null
  }
}

export function isReadOnlyToken(claims: TokenClaims | null): boolean {
  return claims?.access === 'read'
}
