/**
 * Who is asking, as identity, policy and decision all see it. Lives below the three so that none of them imports the
 * others for its types.
 */

/** Who is pulling, as far as the plugin could tell. */
export interface Identity {
  /** Docker Hub username, lowercase; undefined when nobody is signed in. */
  readonly username?: string;
  /** Where the username came from, for logs and explanations (`registry-auth`, `tls`, `docker-config`, `provisioned`; `none`). */
  readonly source: string;
  /** Where the plugin looked, in words: the file or header that named the user, or every place asked when nobody. */
  readonly lookedIn?: string;
}

/** The pulling user's standing in the organisation whose policy applies. */
export type Membership = 'owner' | 'member' | 'none';
