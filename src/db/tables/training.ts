/** Tables owned by the training domain (migrations/ holds their SQL). */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface TrainingTables {}
