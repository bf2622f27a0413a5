/** Summaries (`src-tauri/src/commands/summarize.rs`): one chat streamed, or a whole file. */
import { call, channel } from './core';
import type {
  Progress,
  SummarizeFileRequest,
  SummarizeRequest,
  SummarizeResult,
  SummaryRow,
  SummaryRows,
  TokenText,
} from './generated';

/** Summarizes a pasted chat; `onToken` gets the decoded summary so far after every token. */
export const summarize = (request: SummarizeRequest, onToken: (text: string) => void) =>
  call<SummarizeResult>('summarize', { request, onToken: channel<TokenText>((m) => onToken(m.text)) });

/** Summarizes every dialogue of a file; cancellable with `cancelTask(taskId)`. */
export const summarizeFile = (request: SummarizeFileRequest, onProgress: (p: Progress) => void, taskId?: string) =>
  call<SummaryRows>('summarize_file', { request, onProgress: channel(onProgress), taskId: taskId ?? null });

export const exportSummariesCsv = (rows: SummaryRow[], path: string) =>
  call<void>('export_summaries_csv', { rows, path });
