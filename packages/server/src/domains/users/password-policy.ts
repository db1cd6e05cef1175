/**
 * The password policy: 12 to 256 characters, not containing the user name, and not one of the most
 * common breached passwords or a decoration of one (`Password123!`, `P@ssw0rd`, `qwertyqwerty`). The
 * list is the base words that head every published breach corpus; the check undoes the usual
 * decorations (case, leetspeak, digits and symbols around the word, repetition) before comparing.
 */
import { AppError } from '../../errors.js';

export const MIN_PASSWORD_LENGTH = 12;
export const MAX_PASSWORD_LENGTH = 256;

const BREACHED_BASES = new Set(
  `password passw0rd passwort motdepasse contrasena qwerty qwertz azerty qwertyuiop asdfgh asdfghjkl zxcvbn
  zxcvbnm qazwsx qweasd abc abcd abcdef abcdefg abcdefgh letmein welcome welcome1 admin administrator root
  toor login master monkey dragon football baseball basketball soccer hockey sunshine princess iloveyou
  trustno1 superman batman spiderman starwars pokemon shadow michael jennifer jordan hunter killer
  whatever freedom secret default changeme changeit guest test tester testing user temp temporary mustang
  access charlie donald cheese computer internet samsung apple google microsoft linux ubuntu hello hellothere
  loveme lovely flower summer winter spring autumn chocolate cookie pepper ginger maggie buster tigger
  ashley bailey daniel thomas robert matthew jessica amanda nicole michelle andrew joshua harley ranger
  thunder phoenix matrix ninja mooring iot device firmware server cloud company qwerty123 zaq xsw
  correcthorsebatterystaple opensesame letmeinplease nothing blahblah fuckyou fuckoff asshole biteme
  baby babygirl angel angels blink sweety sweetie family friends forever lucky pussy sexy
  yankees liverpool chelsea arsenal barcelona realmadrid juventus`.split(/\s+/),
);

const LEET: Record<string, string> = {
  '0': 'o',
  '1': 'i',
  '3': 'e',
  '4': 'a',
  '5': 's',
  '7': 't',
  '@': 'a',
  $: 's',
  '!': 'i',
};

/** The word a decorated password is built around: lower case, leetspeak undone, digits and symbols trimmed. */
function core(password: string): string {
  const lowered = password.toLowerCase();
  const trimmed = lowered.replace(/^[^a-z0-9@$]+|[^a-z@$]+$/g, '');
  return [...trimmed]
    .map((c) => LEET[c] ?? c)
    .join('')
    .replace(/[^a-z]/g, '');
}

/** `abcabcabc` → `abc`; anything else unchanged. */
function unrepeat(s: string): string {
  for (let n = 1; n <= s.length / 2; n++) {
    if (s.length % n === 0 && s.slice(0, n).repeat(s.length / n) === s) return s.slice(0, n);
  }
  return s;
}

function isSequence(s: string): boolean {
  if (s.length < 4) return false;
  const d = s.charCodeAt(1) - s.charCodeAt(0);
  if (Math.abs(d) > 1) return false;
  for (let i = 2; i < s.length; i++) if (s.charCodeAt(i) - s.charCodeAt(i - 1) !== d) return false;
  return true;
}

/** Why a password is refused, or undefined when it is acceptable. */
export function passwordWeakness(password: string, username?: string): string | undefined {
  if (password.length < MIN_PASSWORD_LENGTH || password.length > MAX_PASSWORD_LENGTH)
    return `must be ${MIN_PASSWORD_LENGTH} to ${MAX_PASSWORD_LENGTH} characters`;
  const lower = password.toLowerCase();
  if (username && username.length >= 3 && lower.includes(username.toLowerCase()))
    return 'must not contain the user name';
  const base = unrepeat(lower);
  if (isSequence(base) || new Set(lower).size <= 2) return 'is a repetition or a sequence';
  const c = unrepeat(core(password));
  if (c.length === 0 || isSequence(c)) return 'is made of digits and symbols around no word';
  if (BREACHED_BASES.has(c) || BREACHED_BASES.has(unrepeat(core(base))))
    return 'is on the list of breached and common passwords (or a decoration of one)';
  return undefined;
}

export function checkPassword(password: string, username?: string, field = '/password'): void {
  const why = passwordWeakness(password, username);
  if (why)
    throw new AppError('PASSWORD_TOO_WEAK', `the password ${why}`, {
      errors: [{ path: field, message: why }],
    });
}
