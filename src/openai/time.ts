/** OpenAI's timestamps: whole seconds since the Unix epoch. */
export function unixSeconds(date: Date | string): number {
  return Math.floor(new Date(date).getTime() / 1000);
}

/** Like unixSeconds, null for null. */
export function unixSecondsOrNull(date: Date | string | null): number | null {
  return date === null ? null : unixSeconds(date);
}
