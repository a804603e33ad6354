import { describe, expect, it } from 'vitest';
import { csvFindings } from '../../../src/masking/csv.js';
import { MaskContext, Masker } from '../../../src/masking/masker.js';

const masker = new Masker({ detectors: ['EMAIL', 'PASSWORD', 'US_SSN', 'GENERIC_API_KEY', 'GCP_SA_KEY'], style: 'redact', columns: ['*salary*'] });
const mask = (text: string): string => masker.maskText(text, new MaskContext());

describe('Masker on CSV text with a header row', () => {
  it('gives each header context to every value in its column', () => {
    const csv = 'id,email,password,ssn,order_no\n1,ana@example.com,hunter2x,123456789,123456789\n2,ben@example.com,correct horse,234567891,234567891\n';
    expect(mask(csv)).toBe('id,email,password,ssn,order_no\n1,[EMAIL_1],[PASSWORD_1],[US_SSN_1],123456789\n2,[EMAIL_2],[PASSWORD_2],[US_SSN_2],234567891\n');
  });

  it('reads quoted cells (delimiters, quotes and newlines inside), tabs and semicolons, CRLF', () => {
    expect(mask('name,"Password"\r\n"Silva, Ana","p""w,d\nx"\r\n')).toBe('name,"Password"\r\n"Silva, Ana","[PASSWORD_1]"\r\n');
    expect(mask('user\tdb_password\nana\ts3cr3t!\n')).toBe('user\tdb_password\nana\t[PASSWORD_1]\n');
    expect(mask('user;ssn\nana;123-45-6789\n')).toBe('user;ssn\nana;[US_SSN_1]\n');
  });

  it('masks a column a rule names whole, and leaves placeholders and empty cells', () => {
    expect(mask('name,base_salary,password\nana,120000,****\nben,,${DB_PASSWORD}\n')).toBe('name,base_salary,password\nana,[SENSITIVE_COLUMN_1],****\nben,,${DB_PASSWORD}\n');
  });

  it('gives a private_key column the service-account key context', () => {
    expect(mask('client_email,private_key\netl@proj.iam.gserviceaccount.com,"-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"\n')).toBe('client_email,private_key\n[EMAIL_1],"[GCP_SA_KEY_1]"\n');
  });

  it.each<[string, string]>([
    ['log lines with commas', '2026-11-29 INFO login, retry\nssn 123456789 looked up\n'],
    ['a header of sentences', 'please send the password, thanks\nhunter2x,ok\n'],
    ['a first data row of another width', 'user,password\nana\nben,hunter2x\n'],
    ['a single line', 'user,password'],
  ])('treats %s as plain text', (_, text) => {
    expect(csvFindings(text, () => ({ whole: 'X' }))).toEqual([]);
  });

  it('stays linear on adversarial CSV', () => {
    const inputs = ['password,b\n' + '"'.repeat(300_000), 'password,b\n' + ',\n'.repeat(150_000), 'password,b\n' + '"",'.repeat(100_000), `${'a,'.repeat(3000)}password\n${'x,'.repeat(200_000)}`];
    for (const text of inputs) {
      const started = performance.now();
      mask(text);
      // A generous bound only a super-linear scan would break (not a performance assertion).
      expect(performance.now() - started).toBeLessThan(4000);
    }
  });
});
