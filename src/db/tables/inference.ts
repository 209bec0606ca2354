/** Tables owned by the inference domain (migrations/ holds their SQL). */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface InferenceTables {}
