/**
 * The people of the sample workspace: one deterministic list that every sample system (account
 * database, auth log, payment processor stand-in, ticketing stand-in) seeds from, so that their ids
 * agree. Same seed, same people, on every machine.
 */

export interface SamplePerson {
  /** Index in the list; person 0 is Ada, person 1 is Grace. */
  index: number;
  /** Account database user id (also the auth log's partition key). */
  userId: string;
  email: string;
  name: string;
  /** Phone number as the person gave it (E.164 for most; Zoë's in the UK national form), or undefined for people who gave none. */
  phone?: string;
  company: string;
  jobTitle: string;
  /** ACTIVE or CLOSED (closed accounts have closedAt). */
  status: "ACTIVE" | "CLOSED";
  createdAt: Date;
  closedAt?: Date;
  /** Payment processor customer id (cus_...), or undefined for people who never paid. */
  paymentCustomerId?: string;
  /** Ticketing system user id (numeric, as Zendesk's), or undefined for people who never wrote in. */
  ticketingUserId?: string;
  /** How many auth-log events the person has. */
  authEventCount: number;
  /** How many charges/invoices the person has at the payment processor (0 without a customer). */
  paymentCount: number;
  /** How many tickets the person requested (0 without a ticketing user). */
  ticketCount: number;
}

/** The reference instant the sample data is dated from (records spread over the 8 years before it). */
export const SAMPLE_EPOCH = new Date("2026-03-01T00:00:00.000Z");

const FIRST = ["Alan", "Barbara", "Claude", "Dorothy", "Edsger", "Frances", "Gordon", "Hedy", "Ivan", "Joan", "Ken", "Lynn", "Margaret", "Niklaus", "Radia", "Sophie", "Tim", "Whitfield", "Zoë", "Yusuf"];
const LAST = ["Turing", "Liskov", "Shannon", "Vaughan", "Dijkstra", "Allen", "Moore", "Lamarr", "Sutherland", "Clarke", "Thompson", "Conway", "Hamilton", "Wirth", "Perlman", "Wilson", "Berners-Lee", "Diffie", "O'Brien", "Al-Khwarizmi"];
const COMPANIES = ["Analytical Engines Ltd", "Acme, Inc.", "Northwind \"Traders\"", "Globex", "Initech", "شركة المثال", "Umbrella Corp"];
const TITLES = ["Engineer", "Security lead", "CTO", "Analyst", "Support agent", "Founder"];

/** A small, seedable PRNG (mulberry32): the same seed gives the same sequence everywhere. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const DAY = 86_400_000;

function person(index: number, random: () => number): SamplePerson {
  const first = FIRST[Math.floor(random() * FIRST.length)];
  const last = LAST[Math.floor(random() * LAST.length)];
  const createdAt = new Date(SAMPLE_EPOCH.getTime() - Math.floor(random() * 8 * 365) * DAY - Math.floor(random() * DAY));
  const closed = random() < 0.1;
  const pays = random() < 0.6;
  const writes = random() < 0.5;
  return {
    index,
    userId: `usr_${String(index).padStart(5, "0")}`,
    email: `${first}.${last}.${index}@example.com`.toLowerCase().replace(/[^a-z0-9.@-]/g, ""),
    name: `${first} ${last}`,
    phone: random() < 0.7 ? `+4420${String(10_000_000 + index * 7919).slice(0, 8)}` : undefined,
    company: COMPANIES[Math.floor(random() * COMPANIES.length)],
    jobTitle: TITLES[Math.floor(random() * TITLES.length)],
    status: closed ? "CLOSED" : "ACTIVE",
    createdAt,
    closedAt: closed ? new Date(Math.min(SAMPLE_EPOCH.getTime() - DAY, createdAt.getTime() + Math.floor(random() * 3 * 365) * DAY)) : undefined,
    paymentCustomerId: pays ? `cus_S${String(index).padStart(6, "0")}` : undefined,
    ticketingUserId: writes ? String(360_000_000 + index) : undefined,
    authEventCount: 5 + Math.floor(random() * 60),
    paymentCount: pays ? 1 + Math.floor(random() * 12) : 0,
    ticketCount: writes ? 1 + Math.floor(random() * 4) : 0,
  };
}

/** Ada and Grace, whom the README tour asks about (Ada has the big data sets), Zoë, stored as she typed, and Björn, stored with his domain in ASCII. */
function named(base: SamplePerson, overrides: Partial<SamplePerson>): SamplePerson {
  return { ...base, ...overrides };
}

/**
 * The sample people. `authEventsForAda` scales Ada's auth log (100,000 by default; tests pass less).
 */
export function samplePeople(count = 300, options: { authEventsForAda?: number } = {}): SamplePerson[] {
  const random = seededRandom(20250315);
  const people = Array.from({ length: count }, (_, i) => person(i, random));
  people[0] = named(people[0], {
    email: "ada.lovelace@example.com",
    name: "Ada Lovelace",
    phone: "+442079460000",
    company: "Analytical Engines Ltd",
    jobTitle: "Founder",
    status: "ACTIVE",
    createdAt: new Date("2018-12-10T09:00:00.000Z"),
    closedAt: undefined,
    paymentCustomerId: "cus_S000000",
    ticketingUserId: "360000000",
    authEventCount: options.authEventsForAda ?? 100_000,
    paymentCount: 60,
    ticketCount: 8,
  });
  people[1] = named(people[1], {
    email: "grace.hopper@example.com",
    name: "Grace Hopper",
    phone: "+12025550123",
    company: "Acme, Inc.",
    jobTitle: "Engineer",
    status: "ACTIVE",
    createdAt: new Date("2021-06-01T12:00:00.000Z"),
    closedAt: undefined,
    paymentCustomerId: "cus_S000001",
    ticketingUserId: "360000001",
    authEventCount: 40,
    paymentCount: 6,
    ticketCount: 3,
  });
  // Zoë typed her address in mixed case and her phone in the national form, and every system kept them
  // that way: a request for zoe+dsr@example.com, or +44 20 7946 0123, must still find her everywhere.
  if (count > 2) {
    people[2] = named(people[2], {
      email: "Zoe+dsr@Example.COM",
      name: "Zoë Mixed-Case",
      phone: "020 7946 0123",
      status: "ACTIVE",
      closedAt: undefined,
      paymentCustomerId: `cus_S${String(2).padStart(6, "0")}`,
      ticketingUserId: String(360_000_002),
      paymentCount: 3,
      ticketCount: 2,
    });
  }
  // Björn's domain is internationalised, and his systems kept its ASCII (IDNA) spelling: a request for
  // björn's address at bücher.de, as he would type it, must find him everywhere.
  if (count > 3) {
    people[3] = named(people[3], {
      email: "bjorn@xn--bcher-kva.de",
      name: "Björn Punycode",
      status: "ACTIVE",
      closedAt: undefined,
      paymentCustomerId: `cus_S${String(3).padStart(6, "0")}`,
      ticketingUserId: String(360_000_003),
    });
  }
  return people;
}

/**
 * Dates of a person's n records, spread from their account's creation to SAMPLE_EPOCH, oldest first
 * (deterministic per person and kind, so every system agrees on them).
 */
export function recordDates(p: SamplePerson, n: number, kind: string): Date[] {
  let seed = p.index * 31 + 7;
  for (const ch of kind) seed = (seed * 33 + ch.charCodeAt(0)) >>> 0;
  const random = seededRandom(seed);
  const from = p.createdAt.getTime();
  const span = Math.max(DAY, (p.closedAt ?? SAMPLE_EPOCH).getTime() - from);
  return Array.from({ length: n }, () => new Date(from + Math.floor(random() * span))).sort((a, b) => a.getTime() - b.getTime());
}
