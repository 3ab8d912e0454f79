// `npm run eco -- verify`: the offline verifier. Reads the seal from a PDF copy, an image or text,
// verifies it against a pinned trust list, asks the issuer's status service when it can be reached,
// and says why in a reason code and a sentence. Needs no database.
import { open, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { readAtMost } from '../exchange/index.ts';
import { MAX_STATUS_ANSWER_CHARS, MAX_TRUST_LIST_CHARS, SEAL_PREFIX } from './format.ts';
import { MAX_COPY_BYTES, readPdfCopy, sealFromPng, UnreadableCopy } from './qr.ts';
import { type Language, REASON_TEXT, readSeal, type StatusFetch, type Verdict, verifySeal } from './verify.ts';

export const VERIFY_USAGE = `usage: npm run eco -- verify <copy.pdf | image.png | seal text | file with the seal> [options]

  --trust FILE|URL   the issuer's trust list (default: /.well-known/eco-trust.jws where the seal's status URL is)
  --pin=THUMBPRINT   a trust key you pinned out of band (repeat for several; or ECO_TRUST_PINS, comma-separated;
                     write --pin=…: a thumbprint may start with a dash)
  --pins FILE        pins kept between runs, per party (JSON); after a list is accepted, the trust keys it
                     announces replace that party's pins there, so that a rotation needs no new thumbprint
  --certificate FILE the signed certificate (certificate.jws) to check against the seal (a PDF copy brings its own)
  --offline          verify offline: do not ask the issuer's status service; the status is as of the trust list
                     (by default it is asked, and no answer is STATUS_UNAVAILABLE)
  --at DATE-TIME     verify as of this instant instead of now
  --lang en|fr       the sentence's language
  --json             print the verdict as JSON

exit codes: 0 OK; 1 any other reason (printed first, with a sentence); 2 the command as given is refused;
3 the verifier itself failed (one line on stderr)`;

const FETCH_TIMEOUT_MS = 10_000;

class Refused extends Error {}
class TooLarge extends Refused {}

async function readFileAtMost(path: string, limit: number): Promise<Buffer> {
  const file = await open(path, 'r').catch((error: NodeJS.ErrnoException) => {
    throw new Refused(`cannot read ${path} (${error.code ?? error.message})`);
  });
  try {
    const stat = await file.stat();
    if (!stat.isFile()) throw new Refused(`${path} is not a file`);
    if (stat.size > limit) throw new TooLarge(`${path} is ${stat.size} bytes, over the ${limit} read`);
    return await file.readFile();
  } finally {
    await file.close();
  }
}

async function fetchText(url: string, accept: string, limit: number): Promise<StatusFetch> {
  let response: Response;
  try {
    response = await fetch(url, { headers: { accept }, signal: AbortSignal.timeout(FETCH_TIMEOUT_MS), redirect: 'error' });
  } catch {
    return { reached: false };
  }
  if (!response.ok) return { reached: true };
  return { reached: true, text: await readAtMost(response, limit).catch(() => undefined) };
}

/** The seal (and a PDF's attachment) from what the officer has: seal text, or a file holding a copy or the text. */
async function readInput(input: string): Promise<{ seal?: string; certificateJws?: string; problem?: string }> {
  if (input.startsWith(SEAL_PREFIX)) return { seal: input };
  const bytes = await readFileAtMost(input, MAX_COPY_BYTES);
  try {
    if (bytes.subarray(0, 5).toString('latin1') === '%PDF-') {
      const copy = await readPdfCopy(bytes);
      return copy.seal ? copy : { ...copy, problem: 'no QR code could be read in the PDF' };
    }
    if (bytes.subarray(1, 4).toString('latin1') === 'PNG') {
      const seal = sealFromPng(bytes);
      return seal ? { seal } : { problem: 'no QR code could be read in the image' };
    }
  } catch (error) {
    if (error instanceof UnreadableCopy) return { problem: error.message };
    throw error;
  }
  if (bytes.subarray(0, 3).toString('latin1') === '\xff\xd8\xff') return { problem: 'JPEG images are not read: save the image as PNG, or give the seal text' };
  return { seal: bytes.toString('utf8').trim() };
}

/** The pins file: party id -> thumbprints; a file not there yet is an empty one. */
async function readPins(path: string): Promise<Record<string, string[]>> {
  let text: string;
  try {
    text = (await readFileAtMost(path, 1024 * 1024)).toString('utf8');
  } catch (error) {
    if (error instanceof Refused && /\(ENOENT\)/.test(error.message)) return {};
    throw error;
  }
  const pinsFile = z.record(z.string().max(20), z.array(z.string().max(100)).max(100));
  try {
    return pinsFile.parse(JSON.parse(text.trim() || '{}'));
  } catch {
    throw new Refused(`${path} is not a pins file ({"KR-KCS": ["<thumbprint>", …]})`);
  }
}

function print(verdict: Verdict, language: Language): string {
  const lines = [`${verdict.reason}  ${REASON_TEXT[verdict.reason][language]}`, `  why: ${verdict.detail}`];
  const f = verdict.fields;
  if (f) lines.push(`  sealed: number ${f.n}, version ${f.v}, issuer ${f.i}, kind ${f.k}, issued ${f.d}, ${f.x} -> ${f.m}`, '  compare these with the paper');
  const s = verdict.status;
  if (s?.source === 'online') lines.push(`  status: ${s.answer.status}, from the issuer at ${s.answer.checkedAt}`);
  if (s?.source === 'trust-list') lines.push(`  status: ${s.state}, as of the trust list of ${s.asOf}`);
  const t = verdict.trustList;
  if (t) lines.push(`  trust list: ${t.party}, issued ${t.issuedAt}, next update ${t.nextUpdate}${t.stale ? ' (STALE)' : ''}`);
  return lines.join('\n');
}

/** Runs `verify` with its arguments; resolves with the exit code (3, and one line, if it fails itself). */
export async function runVerify(argv: string[]): Promise<number> {
  try {
    return await verifyCommand(argv);
  } catch (error) {
    console.error(`verify failed: ${String((error as Error)?.message ?? error).replace(/\s+/g, ' ')}`);
    return 3;
  }
}

async function verifyCommand(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  const parse = (args: string[]) =>
    parseArgs({
      args,
      allowPositionals: true,
      options: {
        trust: { type: 'string' },
        pin: { type: 'string', multiple: true },
        certificate: { type: 'string' },
        offline: { type: 'boolean' },
        pins: { type: 'string' },
        at: { type: 'string' },
        lang: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  try {
    parsed = parse(argv);
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${VERIFY_USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(VERIFY_USAGE);
    return 0;
  }
  const refuse = (message: string) => {
    console.error(`${message}\n\n${VERIFY_USAGE}`);
    return 2;
  };
  if (positionals.length !== 1) return refuse('give one copy, image, seal text or file');
  const language: Language = values.lang === 'fr' ? 'fr' : 'en';
  if (values.lang && values.lang !== 'en' && values.lang !== 'fr') return refuse('--lang is en or fr');
  const now = values.at ? Date.parse(values.at) : Date.now();
  if (Number.isNaN(now)) return refuse('--at is a date-time such as 2026-12-24T10:00:00Z');
  const given = [...(values.pin ?? []), ...(process.env.ECO_TRUST_PINS ?? '').split(',')].map((p) => p.trim()).filter(Boolean);

  let verdict: Verdict;
  try {
    const input = await readInput(positionals[0]!);
    const certificateJws = values.certificate ? (await readFileAtMost(values.certificate, MAX_COPY_BYTES)).toString('utf8') : input.certificateJws;
    if (!input.seal) {
      verdict = { reason: 'SEAL_MALFORMED', detail: input.problem ?? 'no seal' };
    } else {
      // Where the seal says its issuer answers, unless a list is given.
      const sealed = readSeal(input.seal);
      const trustSource = values.trust ?? (sealed && new URL('/.well-known/eco-trust.jws', sealed.payload.u).href);
      const kept = values.pins ? await readPins(values.pins) : {};
      const pins = [...given, ...(sealed ? (kept[sealed.payload.i] ?? []) : [])];
      let trustList: string | undefined;
      if (trustSource && /^https?:\/\//.test(trustSource)) {
        const fetched = await fetchText(trustSource, 'application/jose', MAX_TRUST_LIST_CHARS);
        trustList = fetched.reached ? fetched.text : undefined;
      } else if (trustSource) {
        // Too large is the list's fault, not the command's: TRUST_LIST_INVALID, as from a URL.
        trustList = await readFileAtMost(trustSource, MAX_TRUST_LIST_CHARS).then(
          (bytes) => bytes.toString('utf8'),
          (error: unknown) => {
            if (error instanceof TooLarge) return undefined;
            throw error;
          },
        );
      }
      verdict = await verifySeal({
        seal: input.seal,
        trustList,
        pins,
        now,
        certificateJws,
        fetchStatus: values.offline ? undefined : (url) => fetchText(url, 'application/jose', MAX_STATUS_ANSWER_CHARS),
      });
      if (values.pins && verdict.trustList && verdict.pinsFromNow) {
        kept[verdict.trustList.party] = verdict.pinsFromNow;
        await writeFile(values.pins, `${JSON.stringify(kept, null, 2)}\n`);
      }
    }
  } catch (error) {
    if (error instanceof Refused) return refuse(error.message);
    throw error;
  }
  console.log(values.json ? JSON.stringify({ ...verdict, sentence: REASON_TEXT[verdict.reason][language] }, null, 2) : print(verdict, language));
  return verdict.reason === 'OK' ? 0 : 1;
}
