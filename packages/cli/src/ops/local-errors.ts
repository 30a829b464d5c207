// Failures of this machine rather than of the storage service: a full disk, a file-descriptor or memory
// limit, a JavaScript engine limit (a string or array too long). The ops commands exit 5 for them (the
// service exit code 4 would send an operator looking at the account); nothing is lost: the checkpoint
// names only finished objects, so the same command with --resume continues after the cause is fixed.
const LOCAL_CODES = new Set(["ENOSPC", "EDQUOT", "ENOTDIR", "EMFILE", "ENFILE", "EIO", "EROFS", "EACCES", "EPERM", "ENOMEM", "EFBIG", "ERR_FS_FILE_TOO_LARGE", "ERR_STRING_TOO_LONG", "ERR_BUFFER_TOO_LARGE"]);

export function isLocalResourceError(e: unknown): boolean {
  if (e instanceof RangeError) return /Invalid string length|Invalid array length|Array buffer allocation failed|Invalid typed array length|Maximum call stack/i.test(e.message);
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === "string" && LOCAL_CODES.has(code);
}

export function localErrorMessage(e: unknown): string {
  const err = e as { code?: string; message?: string; syscall?: string; path?: string };
  const what = err.code ?? (e instanceof RangeError ? "RangeError" : "Error");
  // The message of an fs error names the file (never content or keys).
  return `LOCAL_ERROR: ${what}: ${err.message ?? String(e)} (a limit or I/O failure of this machine, not of the storage service; fix it and run again with the same --resume/--state to continue)`;
}
