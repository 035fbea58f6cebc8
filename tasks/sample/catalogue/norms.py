"""The norm hierarchy the sample rules derive from, and the norms since amended."""

from tasks.sample.catalogue.phrases import parse_rows

NORMS = parse_rows("""
    POL-CODE | Code of Business Conduct | Staff and systems act lawfully, protect the
      people whose data we hold and keep accurate records.
    POL-PRIV < POL-CODE | Data Protection Policy | Personal data is processed for
      stated purposes only and kept no longer than those purposes need.
    POL-PRIV-1 < POL-PRIV | Data minimisation | Collect and keep only the personal
      data a purpose needs.
    POL-PRIV-1.1 < POL-PRIV-1 | Masking in operational records | Operational records
      show personal identifiers only in masked form.
    POL-PRIV-1.2 < POL-PRIV-1 | Aggregated disclosure | Data leaving the company is
      aggregated so that no individual can be singled out.
    POL-PRIV-2 < POL-PRIV | Storage limitation | Personal data is deleted or
      anonymised when its purpose ends.
    POL-PRIV-2.1 < POL-PRIV-2 | Retention schedule | Every record type has a
      retention period in the retention schedule.
    POL-PRIV-2.2 < POL-PRIV-2 | Legal holds | A registered legal hold suspends
      deletion of the records it names.
    POL-PRIV-3 < POL-PRIV | Consent | Marketing relies on consent that can be shown
      and withdrawn.
    POL-PRIV-3.1 < POL-PRIV-3 | Consent records | Consent is recorded with its date,
      channel and wording.
    POL-SEC < POL-CODE | Information Security Policy | Systems are protected by least
      privilege, encryption and traceable change.
    POL-SEC-1 < POL-SEC | Secrets management | Credentials live in the secret store
      and nowhere else.
    POL-SEC-1.1 < POL-SEC-1 | No secrets in source | Source code and build files
      never contain credentials.
    POL-SEC-1.2 < POL-SEC-1 | Credential rotation | A credential that may have been
      exposed is rotated at once.
    POL-SEC-2 < POL-SEC | Secure transport | Data in transit is encrypted with
      current protocols.
    POL-SEC-2.1 < POL-SEC-2 | Minimum TLS version | Connections use TLS 1.2 or newer
      with verified certificates.
    POL-SEC-3 < POL-SEC | Change management | Every change to production is reviewed
      and traceable.
    POL-SEC-3.1 < POL-SEC-3 | Protected branches | Release branches accept only
      reviewed merges.
    POL-SEC-4 < POL-SEC POL-PRIV-1 | Logging and monitoring | Logs record security
      events without exposing personal data.
    POL-FIN < POL-CODE | Financial Controls Standard | Payments are authorised,
      recorded and reconciled under dual control.
    POL-FIN-1 < POL-FIN | Approval authority | Each payment is approved within the
      approver's delegated limit.
    POL-FIN-1.1 < POL-FIN-1 | Dual control | Payments above the threshold need two
      independent approvers.
    POL-FIN-1.2 < POL-FIN-1 | Currency conversion | Limits apply to amounts converted
      into the base currency.
    POL-FIN-2 < POL-FIN | Expense reimbursement | Business expenses are reimbursed
      against itemised receipts.
    POL-FIN-2.1 < POL-FIN-2 | Receipts | A claim without a receipt is not reimbursed.
    POL-FIN-3 < POL-FIN | Fraud prevention | Transactions are monitored for patterns
      that avoid controls.
    POL-HR < POL-CODE | People Policy | People are hired, paid and managed fairly and
      confidentially.
    POL-HR-1 < POL-HR | Equal opportunity | Decisions about people ignore protected
      attributes.
    POL-HR-1.1 < POL-HR-1 | Job advertisements | Job advertisements describe the role,
      not the person.
    POL-HR-2 < POL-HR POL-PRIV-1 | Confidential employee records | Employee records
      are visible only to those who need them.
    POL-HR-2.1 < POL-HR-2 | Compensation data | Pay data is shared only with the
      employee, their manager and HR.
    POL-HR-3 < POL-HR | Flexible work | Where the role allows, work may be done
      remotely by agreement.
    POL-MOD < POL-CODE | Community Guidelines | The community is a safe place for open
      discussion.
    POL-MOD-1 < POL-MOD | Safety of persons | Content must not put anyone at risk of
      harm.
    POL-MOD-1.1 < POL-MOD-1 POL-PRIV | Private information | Nobody's private contact
      or location details are published.
    POL-MOD-1.2 < POL-MOD-1 | Threats | Threats of violence are removed and reported.
    POL-MOD-2 < POL-MOD | Platform integrity | The platform is kept free of
      manipulation.
    POL-MOD-2.1 < POL-MOD-2 | Spam | Bulk, deceptive or repetitive links are held
      back.
    POL-MOD-3 < POL-MOD | Freedom of expression | Criticism and dissent are protected.
    POL-PROC < POL-CODE POL-FIN | Procurement Policy | Goods and services are bought
      competitively from vetted suppliers.
    POL-PROC-1 < POL-PROC | Competitive sourcing | Purchases are tendered unless an
      exception applies.
    POL-PROC-1.1 < POL-PROC-1 | Sole-source justification | Buying from one supplier
      without a tender needs a written reason.
    POL-PROC-1.2 < POL-PROC-1 | Low-value purchases | Small purchases may skip the
      purchase order process.
    POL-PROC-2 < POL-PROC | Supplier due diligence | Suppliers are screened before the
      first order.
    POL-PROC-2.1 < POL-PROC-2 | Sanctions screening | Suppliers on a sanctions list are
      never engaged.
    POL-AI < POL-CODE POL-PRIV | Responsible AI Standard | AI systems are used
      transparently, safely and under human oversight.
    POL-AI-1 < POL-AI POL-PRIV-1 | Data protection in model use | Models receive no
      more personal data than the task needs.
    POL-AI-1.1 < POL-AI-1 | External model providers | Customer data does not reach
      external model providers.
    POL-AI-2 < POL-AI | Human oversight | A person can review and overturn what a model
      decides.
    POL-AI-2.1 < POL-AI-2 | Automated decisions | Adverse decisions about people are
      confirmed by a person.
    POL-AI-3 < POL-AI POL-SEC-3 | Software supply chain | Generated code meets the same
      review and licence rules as any code.
    POL-AI-3.1 < POL-AI-3 | Licence hygiene | Generated code carrying an incompatible
      licence is not merged.
""")
"""The norms as ``id < parents | title | text``; parents always come earlier."""
AMENDED_NORMS = {"POL-PRIV-1": 2, "POL-SEC-2.1": 3, "POL-FIN-1.2": 2, "POL-AI": 2}
