// The demo's card numbers, in a module of their own: the demo's files use them without loading the database driver.
/** Test card numbers published by card networks for testing; all pass the Luhn check. */
export const DEMO_CARDS = [
  '4111 1111 1111 1111',
  '5555-5555-5555-4444',
  '378282246310005',
  '6011111111111117',
  '4012888888881881',
  '5105105105105100',
  '3530111333300000',
  '4242424242424242',
] as const;
