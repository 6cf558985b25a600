// Typed errors shared by every part of lxl. Each class has a stable `code` that
// callers (CLI exit messages, the HTTP error mapper) switch on; messages read
// "cannot <verb> <object>: <why>" and say what to do where that is known.

export type ErrorCode =
  | 'E_SPEC_INVALID'
  | 'E_FORMAT'
  | 'E_SIGN'
  | 'E_KEY'
  | 'E_CONFLICT'
  | 'E_NOT_FOUND'
  | 'E_LOCKED'
  | 'E_STORAGE'
  | 'E_TOOL'
  | 'E_CONFIG'
  | 'E_IO'
  | 'E_BUILD';

/** Base class: every lxl error carries a stable code and optionally the error that caused it. */
export class LxlError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** One broken rule of a package spec: the field path (for example `files[3].path`) and the rule it broke. */
export interface SpecIssue {
  field: string;
  rule: string;
}

/** A package spec broke one or more rules; the message lists every `field: rule`. */
export class SpecError extends LxlError {
  readonly issues: SpecIssue[];

  constructor(issues: SpecIssue[], options?: { cause?: unknown }) {
    super('E_SPEC_INVALID', `invalid package spec: ${issues.map((i) => `${i.field}: ${i.rule}`).join('; ')}`, options);
    this.issues = issues;
  }
}

/** Bytes that do not parse as the format they claim to be (truncated .deb, bad rpm header, ...). */
export class FormatError extends LxlError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_FORMAT', message, options);
  }
}

/** A payload unpacked to more than its reader allows (a likely decompression bomb); a FormatError of its own kind so a caller can say which limit to raise. */
export class UnpackLimitError extends FormatError {}

/** Signing failed. Messages never include key material or passphrases. */
export class SignError extends LxlError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_SIGN', message, options);
  }
}

/** A key could not be generated, read, decrypted or exported. Never carries the secret itself. */
export class KeyError extends LxlError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_KEY', message, options);
  }
}

/** A change would overwrite something immutable (a published file with other bytes, an existing version). */
export class ConflictError extends LxlError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_CONFLICT', message, options);
  }
}

/** A named thing (repo, package, key, object) does not exist. */
export class NotFoundError extends LxlError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_NOT_FOUND', message, options);
  }
}

/** Someone else holds the lock on this resource. */
export class LockedError extends LxlError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_LOCKED', message, options);
  }
}

/** A storage backend operation failed. */
export class StorageError extends LxlError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_STORAGE', message, options);
  }
}

/** An external tool (xz, make, ...) failed or is missing. */
export class ToolError extends LxlError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_TOOL', message, options);
  }
}

/** A file lxl was asked to read cannot be opened or read (missing, unreadable, a folder). */
export class InputError extends LxlError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_IO', message, options);
  }
}

/** "cannot read <file>: <reason>" for a failed open or read, the reason in the system's words ("no such file or directory"), or for a folder, what to give instead. */
export function inputError(file: string, err: unknown): InputError {
  const e = err as NodeJS.ErrnoException;
  const reason =
    e.code === 'EISDIR'
      ? 'it is a folder, not a package file (give the files in it, such as its *.deb or *.rpm)'
      : e.code && e.syscall
        ? e.message.replace(/^[A-Z0-9]+: /, '').replace(/, \w+( '.*')?$/, '')
        : String(e?.message ?? err);
  return new InputError(`cannot read ${file}: ${reason}`, { cause: err });
}

/** Configuration is missing or wrong. */
export class ConfigError extends LxlError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_CONFIG', message, options);
  }
}

/** True when `err` is an LxlError with the given code. */
export function hasCode(err: unknown, code: ErrorCode): err is LxlError {
  return err instanceof LxlError && err.code === code;
}
