/** Tables owned by the datasets domain (migrations/ holds their SQL). */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface DatasetTables {}
