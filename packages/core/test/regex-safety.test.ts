import { nestedRepetition } from '@inflow/core';
import { describe, expect, it } from 'vitest';

describe('nestedRepetition', () => {
  it.each([
    ['(a+)+', '(a+)'],
    ['^(a+)+$', '(a+)'],
    ['(\\w+\\s?)*', '(\\w+\\s?)'],
    ['(x{1,9})+', '(x{1,9})'],
    ['((a+))+', '((a+))'],
    ['(?:a*b*)*', '(?:a*b*)'],
    ['(a+|b)+', '(a+|b)'],
    ['^(?<n>a+)+$', '(?<n>a+)'],
    ['([a-z]+)*$', '([a-z]+)'],
    ['(a+){2,}', '(a+)'],
  ])('refuses %s, naming the group %s', (pattern, group) => {
    expect(nestedRepetition(pattern)).toContain(`the group ${group} repeats without bound`);
  });

  it.each([
    'a+',
    '(ab)+',
    '(\\w+\\.)+\\w+',
    '^([a-z0-9]+(-[a-z0-9]+)*\\.)+[a-z]{2,}$',
    '(\\d{1,3}\\.){3}\\d{1,3}',
    '[(a+)]+',
    '\\(a+\\)+',
    '^\\p{L}+$',
    '(a+){2}',
    '(a+){1,5}',
    '(a?)+',
    '(?=a+)b',
    '^[^@]+@[^@]+\\.[a-z]+$',
    '(\\s*,\\s*\\w+)*',
    '([^,]+),[^,]*,([^,]+)',
  ])('lets %s through: every repetition of a group consumes something it must match once', (pattern) => {
    expect(nestedRepetition(pattern)).toBeUndefined();
  });
});
