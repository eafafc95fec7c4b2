/** An email as the (simulated) email provider recorded it. */
export interface SentEmail {
  readonly id: string;
  readonly to: string;
  readonly subject: string;
}

/**
 * A stand-in for a transactional email API (think Postmark, SES with an idempotency token): it
 * takes an `idempotencyKey` and sends at most one email per key, answering every later call with
 * the same email. The fulfilment consumer passes `ctx.childKey('email')`, which is the same on every
 * re-execution of one event, so a consumer that crashed after the send and ran again does not email
 * the customer twice.
 */
export interface EmailSender {
  send(message: { to: string; subject: string }, options: { idempotencyKey: string }): Promise<SentEmail>;
  /** Calls received, and emails actually sent: more calls than emails means a key saved a duplicate. */
  stats(): { calls: number; sent: number };
}

export interface EmailSenderOptions {
  /**
   * Called after each send with the 1-based call number: return true to throw a timeout *after* the
   * email went out (the classic "did it send?" failure), so the caller fails and retries.
   */
  readonly timeoutAfterSend?: (call: number) => boolean;
}

export function simulatedEmailSender(options: EmailSenderOptions = {}): EmailSender {
  const sent = new Map<string, SentEmail>();
  let calls = 0;
  return {
    async send(message, { idempotencyKey }) {
      const call = ++calls;
      await new Promise((resolve) => setTimeout(resolve, 1 + Math.random() * 4));
      let email = sent.get(idempotencyKey);
      if (!email) {
        email = { id: `em_${sent.size + 1}`, to: message.to, subject: message.subject };
        sent.set(idempotencyKey, email);
      }
      if (options.timeoutAfterSend?.(call)) throw new Error('email API timed out (simulated): the email was sent, the answer lost');
      return email;
    },
    stats: () => ({ calls, sent: sent.size }),
  };
}
