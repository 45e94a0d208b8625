/**
 * The Customer.io Reporting Webhook sample of reference §10.2, verbatim: the event Adobe uses to
 * define the Customer.io source schema, and what the inlet, mapping and streaming tests send.
 */
export const CUSTOMER_IO_SAMPLE_EVENT = Object.freeze({
  event_id: '01E4C4CT6YDC7Y5M7FE1GWWPQJ',
  object_type: 'customer',
  metric: 'subscribed',
  timestamp: 1613063089,
  data: {
    customer_id: '42',
    email_address: 'test@example.com',
    identifiers: { id: '42', email: 'test@example.com', cio_id: 'd9c106000001' },
  },
});
