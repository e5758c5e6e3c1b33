import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { RegistryError } from "./errors.js";
import { ROLES, type Principal, type Role } from "./types.js";

/** Tokens are 32 random bytes; only their sha256 is stored, so a leaked database does not leak credentials. */
export function newToken(): string {
  return "hct_" + randomBytes(32).toString("base64url");
}

export function hashToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

export function sameHash(a: string, b: string): boolean {
  const left = Buffer.from(a, "hex");
  const right = Buffer.from(b, "hex");
  return left.length === right.length && timingSafeEqual(left, right);
}

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

export function roleAtLeast(role: Role, needed: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(needed);
}

/** Throws `forbidden` unless the principal's role is at least `needed`. For the HTTP admin API as well. */
export function requireRole(principal: Principal, needed: Role, action: string): void {
  if (!roleAtLeast(principal.role, needed)) {
    throw new RegistryError("forbidden", `${action} needs role ${needed}; ${principal.name} has ${principal.role}`, {
      action,
      needed,
      role: principal.role,
      actor: principal.name,
    });
  }
}
