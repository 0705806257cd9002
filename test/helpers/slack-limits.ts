// One validator for every Slack payload a test produces: Block Kit limits and mrkdwn safety.
// Returns the list of problems (empty when fine); assertSlackPayload throws with all of them.
//
// Limits (api.slack.com/reference/block-kit): ≤ 50 blocks; header text plain_text ≤ 150; section
// text ≤ 3000; ≤ 10 fields of ≤ 2000; context ≤ 10 elements; block_id ≤ 255.
// Safety: no Slack special sequence that pings or links (<!channel>, <!here>, <!everyone>,
// <!subteam^…>, <@U…>, <#C…>) anywhere; every "<" opens one of our own <http(s)://…|…> links.

export const BLOCK_KIT_LIMITS = { blocks: 50, header: 150, sectionText: 3000, fields: 10, fieldText: 2000, contextElements: 10, blockId: 255, text: 40_000 };

interface TextObj { type?: string; text?: string }
interface Block { type?: string; block_id?: string; text?: TextObj; fields?: TextObj[]; elements?: TextObj[] }

const PING = /<\s*[!@#]/;
const ALLOWED_ANGLE = /<https?:\/\/[^\s<>|]+\|[^<>]*>/g;

function checkMrkdwn(where: string, text: string, problems: string[]): void {
  if (PING.test(text)) problems.push(`${where}: contains a Slack mention or special sequence: ${JSON.stringify(text.slice(0, 200))}`);
  const rest = text.replace(ALLOWED_ANGLE, '');
  if (/[<>]/.test(rest)) problems.push(`${where}: raw < or > outside a link: ${JSON.stringify(rest.slice(0, 200))}`);
  if (/&(?!amp;|lt;|gt;)/.test(text)) problems.push(`${where}: bare & (not an entity)`);
}

export function slackPayloadProblems(payload: unknown): string[] {
  const problems: string[] = [];
  const p = payload as { text?: unknown; blocks?: unknown };
  if (!p || typeof p !== 'object') return ['payload is not an object'];
  if (typeof p.text !== 'string' || p.text.length === 0) problems.push('missing plain-text fallback `text`');
  else {
    if (p.text.length > BLOCK_KIT_LIMITS.text) problems.push(`text is ${p.text.length} chars`);
    checkMrkdwn('text', p.text, problems);
  }
  if (!Array.isArray(p.blocks)) return [...problems, 'blocks is not an array'];
  const blocks = p.blocks as Block[];
  if (blocks.length === 0) problems.push('no blocks');
  if (blocks.length > BLOCK_KIT_LIMITS.blocks) problems.push(`${blocks.length} blocks > ${BLOCK_KIT_LIMITS.blocks}`);
  blocks.forEach((b, i) => {
    const at = `blocks[${i}] (${b.type})`;
    if (b.block_id !== undefined && b.block_id.length > BLOCK_KIT_LIMITS.blockId) problems.push(`${at}: block_id too long`);
    switch (b.type) {
      case 'header':
        if (b.text?.type !== 'plain_text') problems.push(`${at}: header text must be plain_text`);
        if (!b.text?.text) problems.push(`${at}: empty header`);
        else {
          if (b.text.text.length > BLOCK_KIT_LIMITS.header) problems.push(`${at}: header is ${b.text.text.length} chars`);
          if (PING.test(b.text.text)) problems.push(`${at}: header contains a mention`);
        }
        break;
      case 'section':
        if (!b.text && !b.fields) problems.push(`${at}: section without text or fields`);
        if (b.text) {
          if (!b.text.text) problems.push(`${at}: empty text`);
          else {
            if (b.text.text.length > BLOCK_KIT_LIMITS.sectionText) problems.push(`${at}: text is ${b.text.text.length} chars`);
            if (b.text.type === 'mrkdwn') checkMrkdwn(at, b.text.text, problems);
          }
        }
        if (b.fields) {
          if (b.fields.length > BLOCK_KIT_LIMITS.fields) problems.push(`${at}: ${b.fields.length} fields`);
          b.fields.forEach((f, j) => {
            if (!f.text) problems.push(`${at}.fields[${j}]: empty`);
            else {
              if (f.text.length > BLOCK_KIT_LIMITS.fieldText) problems.push(`${at}.fields[${j}]: ${f.text.length} chars`);
              checkMrkdwn(`${at}.fields[${j}]`, f.text, problems);
            }
          });
        }
        break;
      case 'context':
        if (!b.elements?.length) problems.push(`${at}: context without elements`);
        else {
          if (b.elements.length > BLOCK_KIT_LIMITS.contextElements) problems.push(`${at}: ${b.elements.length} elements`);
          b.elements.forEach((e, j) => {
            if (e.text && e.text.length > BLOCK_KIT_LIMITS.sectionText) problems.push(`${at}.elements[${j}]: ${e.text.length} chars`);
            if (e.text && e.type === 'mrkdwn') checkMrkdwn(`${at}.elements[${j}]`, e.text, problems);
          });
        }
        break;
      case 'divider':
        break;
      default:
        problems.push(`${at}: unexpected block type`);
    }
  });
  return problems;
}

export function assertSlackPayload(payload: unknown): void {
  const problems = slackPayloadProblems(payload);
  if (problems.length) throw new Error(`Slack payload breaks Block Kit limits or escaping:\n- ${problems.join('\n- ')}`);
}
