/**
 * Summaries (`src-tauri/src/commands/summarize.rs`): one chat streamed (with its key actions
 * beside it in the support view), or a whole file.
 */
import { call, channel } from './core';
import type {
  Progress,
  SummarizeFileRequest,
  SummarizeRequest,
  SummarizeResult,
  SummaryRow,
  SummaryRows,
  SupportPart,
  SupportToken,
  SupportView,
  TokenText,
} from './generated';

/** Summarizes a pasted chat; `onToken` gets the decoded summary so far after every token. */
export const summarize = (request: SummarizeRequest, onToken: (text: string) => void) =>
  call<SummarizeResult>('summarize', { request, onToken: channel<TokenText>((m) => onToken(m.text)) });

/**
 * The support view of a pasted chat: summary and key actions generated together; `onToken`
 * gets each one's text so far, tagged by `part`.
 */
export const summarizeActions = (request: SummarizeRequest, onToken: (part: SupportPart, text: string) => void) =>
  call<SupportView>('summarize_actions', {
    request,
    onToken: channel<SupportToken>((m) => onToken(m.part, m.text)),
  });

/** Summarizes every dialogue of a file (and its key actions with `actions`); cancellable with `cancelTask(taskId)`. */
export const summarizeFile = (request: SummarizeFileRequest, onProgress: (p: Progress) => void, taskId?: string) =>
  call<SummaryRows>('summarize_file', { request, onProgress: channel(onProgress), taskId: taskId ?? null });

export const exportSummariesCsv = (rows: SummaryRow[], path: string) =>
  call<void>('export_summaries_csv', { rows, path });
