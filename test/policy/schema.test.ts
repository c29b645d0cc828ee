/** The domain file schema itself (scripts/policy/schema.ts compiles it without checking it, for speed). */
import { Ajv2020 } from 'ajv/dist/2020.js';
import { expect, test } from 'vitest';
import { DOMAIN_SCHEMA } from '../../scripts/policy/schema.ts';

test('domain.schema.json is a valid draft 2020-12 schema (strict mode)', () => {
  const ajv = new Ajv2020({ strict: true, allowUnionTypes: true });
  expect(ajv.validateSchema(DOMAIN_SCHEMA), ajv.errorsText()).toBe(true);
  expect(() => ajv.compile(DOMAIN_SCHEMA)).not.toThrow();
});
