// What Node, V8 and image-access ask of ICU, in English: plugin/assemble-app.sh runs it with the build host's node and
// with the trimmed one (plugin/trim-icu.js) and fails unless both print the same. Prints one JSON object.
const date = new Date(Date.UTC(2026, 10, 30, 5, 35, 7));
const probes = {
  versions: [process.versions.icu, process.versions.cldr, process.versions.unicode, process.versions.tz],
  defaultLocale: new Intl.DateTimeFormat().resolvedOptions().locale,
  dates: [
    date.toLocaleString('en-US', { timeZone: 'America/New_York' }),
    new Intl.DateTimeFormat('en', { dateStyle: 'full', timeStyle: 'long', timeZone: 'Europe/Berlin' }).format(date),
    new Intl.DateTimeFormat('en-GB', { timeZoneName: 'long', timeZone: 'Asia/Tokyo' }).format(date),
    date.toString(),
  ],
  numbers: [(1234567.891).toLocaleString(), new Intl.NumberFormat('en', { style: 'currency', currency: 'EUR' }).format(3), new Intl.NumberFormat('en', { style: 'unit', unit: 'megabyte' }).format(34), new Intl.NumberFormat('en', { notation: 'compact' }).format(123456)],
  words: [new Intl.RelativeTimeFormat('en').format(-3, 'day'), new Intl.PluralRules('en').select(1), new Intl.ListFormat('en').format(['a', 'b', 'c']), new Intl.DisplayNames('en', { type: 'region' }).of('DE'), new Intl.DisplayNames('en', { type: 'language' }).of('fr')],
  // image-access sorts names with localeCompare (simulate).
  collation: ['b', 'a', 'B', 'é', 'e', 'Z', '10', '9'].sort((a, b) => a.localeCompare(b)),
  normalization: ['NFC', 'NFD', 'NFKC', 'NFKD'].map((form) => 'Åﬁ①ẛ̣'.normalize(form)),
  segments: ['grapheme', 'word', 'sentence'].map((granularity) => [...new Intl.Segmenter('en', { granularity }).segment('Hi there. 👩‍👩‍👧 สวัสดีครับ 你好世界')].length),
  decoders: ['utf-8', 'utf-16le', 'latin1', 'windows-1252'].map((label) => new TextDecoder(label).decode(new Uint8Array([0xc3, 0xa9, 0x80, 0x41, 0]))),
  regexps: [/\p{Extended_Pictographic}/u.test('😀'), /^\p{ID_Start}\p{ID_Continue}*$/u.test('héllo'), /\u212a/iu.test('k'), /\p{Script=Greek}/u.test('α')],
  cases: ['straße'.toLocaleUpperCase(), 'İ'.toLocaleLowerCase('en'), 'i'.toLocaleUpperCase('tr')],
  idna: new URL('http://bücher.example/').host,
};
process.stdout.write(`${JSON.stringify(probes)}\n`);
