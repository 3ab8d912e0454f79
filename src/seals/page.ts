/// <reference lib="dom" />
// The /verify page's script (bundled into the page by page-bundle.ts): reads a seal from the camera,
// an image or pasted text, and verifies it with verify.ts in the browser (WebCrypto).
import { decodeQrPixels } from './decode-qr.ts';
import { MAX_STATUS_ANSWER_CHARS, MAX_TRUST_LIST_CHARS } from './format.ts';
import { type Language, REASON_TEXT, readSeal, type StatusFetch, type Verdict, verifySeal } from './verify.ts';

const UI = {
  en: {
    title: 'Verify a certificate of origin',
    intro: 'Scan the QR code printed on the certificate, or choose a photo of it, or paste its text. Verification happens on this device.',
    camera: 'Scan with the camera',
    stop: 'Stop the camera',
    noCamera: 'This browser cannot read QR codes from the camera: choose an image instead.',
    image: 'Image of the QR code',
    text: 'Seal text (starts with ECO1:)',
    verify: 'Verify',
    trust: 'Trust list',
    trustFile: 'Trust list from a file (.jws)',
    trustHelp: "Without a file, the issuer's list is read online.",
    pins: 'Pinned trust keys (thumbprints, one per line)',
    online: 'Ask the issuer for the current status (online)',
    result: 'Result',
    field: { n: 'Number', v: 'Version', i: 'Issuer', k: 'Kind', d: 'Issued', x: 'Export country', m: 'Import country' },
    kinds: { P: 'preferential', N: 'non-preferential', D: 'origin declaration' },
    compare: 'Compare these details with the paper.',
    statusOnline: 'Status from the issuer, checked at',
    statusAsOf: 'Status as of the trust list of',
    noQr: 'No QR code was found in this image.',
    states: { valid: 'valid', replaced: 'replaced', cancelled: 'cancelled', unknown: 'unknown' },
    language: 'Français',
  },
  fr: {
    title: 'Vérifier un certificat d’origine',
    intro: 'Scannez le code QR imprimé sur le certificat, choisissez-en une photo ou collez son texte. La vérification se fait sur cet appareil.',
    camera: 'Scanner avec la caméra',
    stop: 'Arrêter la caméra',
    noCamera: 'Ce navigateur ne lit pas les codes QR avec la caméra : choisissez une image.',
    image: 'Image du code QR',
    text: 'Texte du sceau (commence par ECO1:)',
    verify: 'Vérifier',
    trust: 'Liste de confiance',
    trustFile: 'Liste de confiance depuis un fichier (.jws)',
    trustHelp: 'Sans fichier, la liste de l’émetteur est lue en ligne.',
    pins: 'Clés de confiance épinglées (empreintes, une par ligne)',
    online: 'Demander le statut actuel à l’émetteur (en ligne)',
    result: 'Résultat',
    field: { n: 'Numéro', v: 'Version', i: 'Émetteur', k: 'Type', d: 'Délivré le', x: 'Pays d’exportation', m: 'Pays d’importation' },
    kinds: { P: 'préférentiel', N: 'non préférentiel', D: 'déclaration d’origine' },
    compare: 'Comparez ces données avec le papier.',
    statusOnline: 'Statut donné par l’émetteur, vérifié le',
    statusAsOf: 'Statut à la date de la liste de confiance du',
    noQr: 'Aucun code QR trouvé dans cette image.',
    states: { valid: 'valide', replaced: 'remplacé', cancelled: 'annulé', unknown: 'inconnu' },
    language: 'English',
  },
} as const;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
let language: Language = navigator.language.startsWith('fr') ? 'fr' : 'en';
let trustFileText: string | undefined;
let lastVerdict: Verdict | undefined;
const PIN_STORE = 'eco-verify-pins';

function translate(): void {
  const t = UI[language];
  document.documentElement.lang = language;
  document.title = t.title;
  for (const element of document.querySelectorAll<HTMLElement>('[data-t]')) element.textContent = t[element.dataset.t as keyof typeof t] as string;
  if (lastVerdict) show(lastVerdict);
}

/** Pins kept in this browser, per party: after a list is accepted, the trust keys it announces. */
function keptPins(): Record<string, string[]> {
  try {
    const kept = JSON.parse(localStorage.getItem(PIN_STORE) ?? '{}') as unknown;
    return kept && typeof kept === 'object' && !Array.isArray(kept) ? (kept as Record<string, string[]>) : {};
  } catch {
    return {}; // a page opened from a file may have no storage, or a broken entry
  }
}

function keepPins(party: string, pins: string[]): void {
  try {
    localStorage.setItem(PIN_STORE, JSON.stringify({ ...keptPins(), [party]: pins }));
  } catch {
    // no storage: the pins hold for this visit only
  }
}

/** The pins typed or given with the page, and those kept for the seal's party. */
function pins(party: string | undefined): string[] {
  const typed = $<HTMLTextAreaElement>('pins').value.split(/\s+/);
  const kept = party ? (keptPins()[party] ?? []) : [];
  return [...typed, ...kept].filter((p) => typeof p === 'string' && /^[A-Za-z0-9_-]{43}$/.test(p));
}

function show(verdict: Verdict): void {
  lastVerdict = verdict;
  const t = UI[language];
  const out = $('result');
  out.replaceChildren();
  out.className = verdict.reason === 'OK' ? 'ok' : verdict.reason === 'TRUST_LIST_STALE' ? 'warn' : 'bad';
  const code = document.createElement('p');
  code.className = 'reason';
  code.textContent = verdict.reason;
  code.id = 'reason-code';
  const sentence = document.createElement('p');
  sentence.textContent = `${REASON_TEXT[verdict.reason][language]} (${verdict.detail})`;
  out.append(code, sentence);
  if (verdict.fields) {
    const list = document.createElement('dl');
    const f = verdict.fields;
    const rows: [string, string][] = [
      [t.field.n, f.n],
      [t.field.v, String(f.v)],
      [t.field.i, f.i],
      [t.field.k, t.kinds[f.k]],
      [t.field.d, f.d],
      [t.field.x, f.x],
      [t.field.m, f.m],
    ];
    for (const [label, value] of rows) {
      const dt = document.createElement('dt');
      dt.textContent = label;
      const dd = document.createElement('dd');
      dd.textContent = value;
      list.append(dt, dd);
    }
    const compare = document.createElement('p');
    compare.textContent = t.compare;
    out.append(list, compare);
  }
  if (verdict.status) {
    const status = document.createElement('p');
    status.textContent =
      verdict.status.source === 'online'
        ? `${t.statusOnline} ${verdict.status.answer.checkedAt}: ${t.states[verdict.status.answer.status]}`
        : `${t.statusAsOf} ${verdict.status.asOf}: ${t.states[verdict.status.state]}`;
    out.append(status);
  }
  out.focus();
}

/** GET `url`; an answer over `limit` characters is cut off unread (a seal names the URL, not us). */
async function fetchText(url: string, accept: string, limit: number): Promise<StatusFetch> {
  let response: Response;
  try {
    response = await fetch(url, { headers: { accept }, signal: AbortSignal.timeout(8000), cache: 'no-store' });
  } catch {
    return { reached: false };
  }
  if (!response.ok || !response.body || Number(response.headers.get('content-length')) > limit) return { reached: true };
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read().catch(() => ({ done: true as const, value: undefined }));
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      return { reached: true };
    }
    chunks.push(value);
  }
  return { reached: true, text: new TextDecoder().decode(await new Blob(chunks as BlobPart[]).arrayBuffer()) };
}

async function verify(sealText: string): Promise<void> {
  const seal = readSeal(sealText.trim());
  let trustList = trustFileText;
  if (trustList === undefined && seal) {
    const fetched = await fetchText(new URL('/.well-known/eco-trust.jws', seal.payload.u).href, 'application/jose', MAX_TRUST_LIST_CHARS);
    trustList = fetched.reached ? fetched.text : undefined;
  }
  const online = $<HTMLInputElement>('online').checked;
  const verdict = await verifySeal({
    seal: sealText,
    trustList,
    pins: pins(seal?.payload.i),
    now: Date.now(),
    fetchStatus: online ? (url) => fetchText(url, 'application/jose', MAX_STATUS_ANSWER_CHARS) : undefined,
  });
  if (verdict.trustList && verdict.pinsFromNow) keepPins(verdict.trustList.party, verdict.pinsFromNow);
  show(verdict);
}

/** Draws an image (a file, a video frame) and reads the QR code in it. */
function qrIn(source: CanvasImageSource, width: number, height: number): string | undefined {
  const scale = Math.min(1, 2000 / Math.max(width, height));
  const canvas = document.createElement('canvas');
  canvas.width = Math.round(width * scale);
  canvas.height = Math.round(height * scale);
  const context = canvas.getContext('2d', { willReadFrequently: true })!;
  context.drawImage(source, 0, 0, canvas.width, canvas.height);
  const pixels = context.getImageData(0, 0, canvas.width, canvas.height);
  return decodeQrPixels(pixels.data, canvas.width, canvas.height);
}

async function fromImage(file: File): Promise<void> {
  let text: string | undefined;
  try {
    const bitmap = await createImageBitmap(file);
    text = qrIn(bitmap, bitmap.width, bitmap.height);
  } catch {
    text = undefined; // not an image the browser can decode
  }
  if (!text) {
    $('result').textContent = UI[language].noQr;
    return;
  }
  $<HTMLTextAreaElement>('seal').value = text;
  await verify(text);
}

let stream: MediaStream | undefined;
async function scan(): Promise<void> {
  const video = $<HTMLVideoElement>('video');
  if (stream) {
    for (const track of stream.getTracks()) track.stop();
    stream = undefined;
    video.hidden = true;
    return;
  }
  if (!navigator.mediaDevices?.getUserMedia) {
    $('result').textContent = UI[language].noCamera;
    return;
  }
  stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' } });
  video.srcObject = stream;
  video.hidden = false;
  await video.play();
  // BarcodeDetector where the browser has it, else jsQR on each frame.
  const Detector = (globalThis as { BarcodeDetector?: new (o: object) => { detect(v: HTMLVideoElement): Promise<{ rawValue: string }[]> } }).BarcodeDetector;
  const detector = Detector ? new Detector({ formats: ['qr_code'] }) : undefined;
  const tick = async () => {
    if (!stream) return;
    const text = detector ? (await detector.detect(video).catch(() => []))[0]?.rawValue : qrIn(video, video.videoWidth, video.videoHeight);
    if (text) {
      await scan(); // stops the camera
      $<HTMLTextAreaElement>('seal').value = text;
      await verify(text);
      return;
    }
    setTimeout(tick, 200);
  };
  void tick();
}

function start(): void {
  // The pins the serving gateway gave (its own trust keys); an empty field on a page saved elsewhere is filled by hand.
  const pinned = JSON.parse(document.getElementById('pinned')?.textContent ?? '[]') as string[];
  $<HTMLTextAreaElement>('pins').value = pinned.join('\n');
  // Asking the issuer is the default where there is a network; a page opened from a file verifies offline unless told.
  $<HTMLInputElement>('online').checked = /^https?:$/.test(location.protocol) && navigator.onLine;
  $('language').addEventListener('click', () => {
    language = language === 'en' ? 'fr' : 'en';
    translate();
  });
  $('camera').addEventListener('click', () => void scan().catch(() => ($('result').textContent = UI[language].noCamera)));
  $<HTMLInputElement>('image').addEventListener('change', (event) => {
    const file = (event.target as HTMLInputElement).files?.[0];
    if (file) void fromImage(file);
  });
  $<HTMLInputElement>('trust-file').addEventListener('change', async (event) => {
    const file = (event.target as HTMLInputElement).files?.[0];
    trustFileText = file && file.size <= MAX_TRUST_LIST_CHARS ? await file.text() : undefined;
  });
  $('form').addEventListener('submit', (event) => {
    event.preventDefault();
    void verify($<HTMLTextAreaElement>('seal').value);
  });
  translate();
}

start();
