/**
 * libphonenumber-js with its full metadata, loaded at the first phone check instead of at start: the
 * metadata is the largest thing masking needs, and a server answers `initialize` long before it masks.
 * A load failure throws at that check, inside masking, which fails the call closed (MASKING_FAILED).
 */
import { createRequire } from 'node:module';
import type { findNumbers, getCountries, getCountryCallingCode, Metadata } from 'libphonenumber-js/max';
import type { Metadata as CoreMetadata, MetadataJson } from 'libphonenumber-js/core';

/** What masking uses of the library (with the full "max" metadata). */
export interface PhoneLib {
  readonly findNumbers: typeof findNumbers;
  readonly getCountries: typeof getCountries;
  readonly getCountryCallingCode: typeof getCountryCallingCode;
  /** A fresh metadata object over the full metadata, for selecting numbering plans. */
  metadata(): Metadata;
}

let lib: PhoneLib | undefined;

/**
 * The phone library, loaded on first use. Synchronous (the CommonJS build, whose JSON metadata also
 * loads faster than its ES module form) so that every masking entry point, worker threads and the CLI
 * included, keeps its synchronous API; a server warms it up right after it has answered `initialize`.
 */
export function phoneLib(): PhoneLib {
  if (lib === undefined) {
    const require = createRequire(import.meta.url);
    const max = require('libphonenumber-js/max') as Omit<PhoneLib, 'metadata'>;
    const core = require('libphonenumber-js/core') as { Metadata: typeof CoreMetadata };
    const json = require('libphonenumber-js/metadata.max.json') as MetadataJson;
    lib = {
      findNumbers: max.findNumbers,
      getCountries: max.getCountries,
      getCountryCallingCode: max.getCountryCallingCode,
      metadata: () => new core.Metadata(json),
    };
  }
  return lib;
}
