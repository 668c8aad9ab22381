// Types for snapdiff-client: the snapdiffd protocol (docs/protocol.md).

export declare const ErrorCodes: {
  readonly PARSE_ERROR: -32700;
  readonly INVALID_REQUEST: -32600;
  readonly METHOD_NOT_FOUND: -32601;
  readonly INVALID_PARAMS: -32602;
  readonly INTERNAL_ERROR: -32603;
  readonly ERROR: -32000;
  readonly OVER_BUDGET: -32001;
  readonly BUSY: -32002;
  readonly NOT_FOUND: -32003;
  readonly INVALID: -32004;
  readonly IO: -32005;
  readonly CHANGED: -32006;
  readonly LOCKED: -32007;
  readonly CORRUPT: -32008;
  readonly NO_SPACE: -32009;
  readonly UNSAFE_PATH: -32010;
  readonly TOO_BIG: -32011;
  readonly CANCELED: -32012;
};

export declare class SnapdiffError extends Error {
  /** A JSON-RPC code: one of ErrorCodes. */
  code: number;
  /** {error: "budget" | "busy" | "not_found" | ..., retry: boolean} */
  data?: { error: string; retry: boolean };
  method: string;
  /** True when the same request may simply be retried later. */
  retry: boolean;
}

export declare function defaultSocketPath(): string;

/** Where a store is: store and/or worktree (absolute paths), or git_dir. */
export interface StoreParams {
  /** The worktree: its default store is used when `store` is absent. */
  worktree?: string;
  store?: string;
}
export interface ReadStoreParams extends StoreParams {
  /** Any git directory instead of a snapdiff store (read-only methods). */
  git_dir?: string;
}

export interface PingResult { pong: true; version: string; pid: number }

export interface StatsResult {
  memory_limit: number;
  live_bytes: number;
  peak_bytes: number;
  admission_capacity: number;
  reserved_bytes: number;
  requests: number;
  errors: number;
  busy: number;
  waits: number;
  canceled: number;
  in_flight: number;
  connections: number;
  connections_total: number;
  connections_refused: number;
  workers: number;
  uptime_ms: number;
}

export interface Notice { path: string; error: string; message: string }

export interface TrackParams extends StoreParams {
  label?: string;
  /** Fail on an unreadable or changing file instead of keeping it as it was. */
  strict?: boolean;
}
export interface TrackResult {
  tree: string;
  id: string;
  created: boolean;
  label: string | null;
  files: number;
  bytes: number;
  written: number;
  written_bytes: number;
  removed: number;
  skipped: Notice[];
  store: string;
  worktree: string | null;
  peak_bytes: number;
  peak_rss_bytes: number;
}

export interface SnapshotInfo {
  id: string;
  tree: string;
  commit: string;
  time: number;
  time_iso: string;
  label: string | null;
  files: number;
  bytes: number;
}

export type FileStatus = 'added' | 'deleted' | 'modified' | 'renamed' | 'type_changed';

/** One file of a diff: what `snapdiff diff --json` prints. */
export interface FileSummary {
  path: string;
  old_path?: string;
  status: FileStatus;
  old_oid: string | null;
  new_oid: string | null;
  old_mode: string | null;
  new_mode: string | null;
  old_size: number;
  new_size: number;
  old_lines: number;
  new_lines: number;
  additions: number;
  deletions: number;
  exact: boolean;
  binary: boolean;
  generated: boolean;
  generated_reason: string | null;
  oversized: boolean;
  patch?: string;
  patch_truncated: boolean;
  old_hash: string | null;
  new_hash: string | null;
}

/** OpenCode's SnapshotFileDiff (format: "opencode"). */
export interface OpenCodeFileDiff {
  file: string;
  patch: string;
  additions: number;
  deletions: number;
  status: 'added' | 'deleted' | 'modified';
}

export interface DiffTotals {
  files: number;
  additions: number;
  deletions: number;
  binary_files: number;
  generated_files: number;
  oversized_files: number;
  estimated_files: number;
  patch_bytes: number;
  truncated: boolean;
  omitted_files: number;
  peak_bytes: number;
}

export interface DiffParams extends ReadStoreParams {
  from: string;
  /** Absent: the worktree is tracked first and is `to`. */
  to?: string;
  max_file_bytes?: number;
  max_patch_bytes?: number;
  max_total_patch_bytes?: number;
  max_files?: number;
  format?: 'json' | 'opencode';
  /** false: neither read nor fill the store's result cache. */
  cache?: boolean;
}

export interface DiffResult<F = FileSummary> {
  from: string;
  to: string;
  files: F[];
  totals: DiffTotals;
}
export interface DiffStreamResult { from: string; to: string; totals: DiffTotals }

export interface DiffStream<F = FileSummary> extends AsyncIterableIterator<F> {
  /** Set once the stream has ended. */
  result?: DiffStreamResult;
}

export interface PatchParams extends StoreParams { from: string }
export interface PatchResult { from: string; to: string; worktree: string; files: string[] }

export interface RestoreParams extends StoreParams { tree: string }
export interface RevertParams extends RestoreParams { paths: string[] }
export interface RestoreResult {
  tree: string;
  ok: boolean;
  written: number;
  written_bytes: number;
  unchanged: number;
  removed: number;
  failed: number;
  errors: Notice[];
  error?: string;
  message?: string;
  store: string;
  worktree: string;
  peak_bytes: number;
  peak_rss_bytes: number;
}

export type FileParams = ReadStoreParams & {
  offset?: number;
  /** At most 1048576; default 65536. */
  length?: number;
  encoding?: 'auto' | 'utf8' | 'base64';
} & ({ tree: string; path: string } | { oid: string });

export interface FileResult {
  oid: string;
  tree: string | null;
  path: string | null;
  size: number;
  offset: number;
  length: number;
  eof: boolean;
  encoding: 'utf8' | 'base64';
  data: string;
}

export interface ClientOptions {
  socketPath?: string;
  /** Longest line accepted from the daemon (default 64 MiB). */
  maxLineBytes?: number;
}

export declare class SnapdiffClient {
  constructor(options?: ClientOptions);
  readonly socketPath: string;
  connect(): Promise<this>;
  close(): void;
  call<T = unknown>(method: string, params?: object): Promise<T>;
  ping(): Promise<PingResult>;
  stats(): Promise<StatsResult>;
  track(params: TrackParams): Promise<TrackResult>;
  log(params: ReadStoreParams): Promise<SnapshotInfo[]>;
  patch(params: PatchParams): Promise<PatchResult>;
  restore(params: RestoreParams): Promise<RestoreResult>;
  revert(params: RevertParams): Promise<RestoreResult>;
  file(params: FileParams): Promise<FileResult>;
  static fileBytes(result: FileResult): Buffer;
  diff(params: DiffParams & { format?: 'json' }): Promise<DiffResult>;
  diff(params: DiffParams & { format: 'opencode' }): Promise<OpenCodeFileDiff[]>;
  diffStream(params: DiffParams & { format?: 'json' }): DiffStream<FileSummary>;
  diffStream(params: DiffParams & { format: 'opencode' }): DiffStream<OpenCodeFileDiff>;
}
