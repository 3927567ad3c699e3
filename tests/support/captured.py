# ruff: noqa: E501 - captured payloads are kept exactly as Slack sent them
"""Payloads captured from Slack, kept as Slack sent them, every field included.

Test data, not code: each is copied from a test fixture of one of Slack's own SDKs, named
in the comment above it (repository, commit, file, variable). Tests sign them with their
own secret and may swap a button's `action_id`/`value` for ci-bot's, nothing else.
"""

from __future__ import annotations

from typing import Any

# fmt: off
# Source: slackapi/java-slack-sdk@86ff7ca9915e bolt/src/test/java/test_locally/request/BlockActionRequestTest.java (`payload`; Slack's documented example, https://docs.slack.dev/messaging/creating-interactive-messages)
BLOCK_ACTIONS_IN_A_CHANNEL: dict[str, Any] = {'type': 'block_actions',
 'team': {'id': 'T9TK3CUKW', 'domain': 'example'},
 'user': {'id': 'UA8RXUSPL', 'username': 'jtorrance', 'team_id': 'T9TK3CUKW'},
 'api_app_id': 'AABA1ABCD',
 'token': 'legacy-fixed-value',
 'container': {'type': 'message_attachment',
               'message_ts': '1548261231.000200',
               'attachment_id': 1,
               'channel_id': 'CBR2V3XEX',
               'is_ephemeral': False,
               'is_app_unfurl': False},
 'trigger_id': '12321423423.333649436676.d8c1bb837935619ccad0f624c448ffb3',
 'channel': {'id': 'CBR2V3XEX', 'name': 'review-updates'},
 'message': {'bot_id': 'BAH5CA16Z',
             'type': 'message',
             'text': "This content can't be displayed.",
             'user': 'UAJ2RU415',
             'ts': '1548261231.000200'},
 'response_url': 'https://hooks.slack.com/actions/AABA1ABCD/1232321423432/D09sSasdasdAS9091209',
 'actions': [{'action_id': 'WaXA',
              'block_id': '=qXel',
              'text': {'type': 'plain_text', 'text': 'View', 'emoji': True},
              'value': 'click_me_123',
              'type': 'button',
              'action_ts': '1548426417.840180'}]}

# Source: slackapi/java-slack-sdk@86ff7ca9915e slack-app-backend/src/test/java/test_locally/app_backend/interactive_components/payload/BlockActionPayloadTest.java (`jsonInteractionsFromRemoteFunction`, a click in a DM)
BLOCK_ACTIONS_IN_A_DM: dict[str, Any] = {'type': 'block_actions',
 'team': {'id': 'T03E94MJU', 'domain': 'test'},
 'user': {'id': 'U03E94MK0', 'name': 'kaz', 'team_id': 'T03E94MJU'},
 'channel': {'id': 'D065ZJQQQAE', 'name': 'directmessage'},
 'message': {'bot_id': 'B065SV9Q70W',
             'type': 'message',
             'text': 'hey!',
             'user': 'U066C7XNE6M',
             'ts': '1700455285.968429',
             'app_id': 'A065ZJM410S',
             'blocks': [{'type': 'actions',
                         'block_id': 'b',
                         'elements': [{'type': 'button',
                                       'action_id': 'a',
                                       'text': {'type': 'plain_text',
                                                'text': 'Click this!',
                                                'emoji': True},
                                       'value': 'clicked'}]}],
             'team': 'T03E94MJU'},
 'container': {'type': 'message',
               'message_ts': '1700455285.968429',
               'channel_id': 'D065ZJQQQAE',
               'is_ephemeral': False},
 'actions': [{'block_id': 'b',
              'action_id': 'a',
              'type': 'button',
              'text': {'type': 'plain_text', 'text': 'Click this!', 'emoji': True},
              'value': 'clicked',
              'action_ts': '1700455293.945608'}],
 'api_app_id': 'A065ZJM410S',
 'state': {'values': {}},
 'bot_access_token': 'xwfp-valid',
 'function_data': {'execution_id': 'Fx066J3N9ME0',
                   'function': {'callback_id': 'hello'},
                   'inputs': {'amount': 1, 'message': 'hey', 'user_id': 'U03E94MK0'}},
 'interactivity': {'interactor': {'secret': 'interactor-secret', 'id': 'U03E94MK0'},
                   'interactivity_pointer': '111.222.333'}}

# Source: slackapi/java-slack-sdk@86ff7ca9915e bolt/src/test/java/test_locally/request/BlockActionRequestTest.java (`orgWideInstallationPayload`: team null, an ephemeral message)
BLOCK_ACTIONS_ON_AN_EPHEMERAL_ORG_WIDE: dict[str, Any] = {'type': 'block_actions',
 'user': {'id': 'W111',
          'username': 'primary-owner',
          'name': 'primary-owner',
          'team_id': 'T_expected'},
 'api_app_id': 'A111',
 'token': 'fixed-value',
 'container': {'type': 'message',
               'message_ts': '1643113871.000700',
               'channel_id': 'C111',
               'is_ephemeral': True},
 'trigger_id': '111.222.xxx',
 'team': None,
 'enterprise': {'id': 'E111', 'name': 'Sandbox Org'},
 'is_enterprise_install': True,
 'channel': {'id': 'C111', 'name': 'random'},
 'state': {'values': {}},
 'response_url': 'https://hooks.slack.com/actions/E111/111/xxx',
 'actions': [{'action_id': 'a',
              'block_id': 'b',
              'text': {'type': 'plain_text', 'text': 'Button'},
              'value': 'click_me_123',
              'type': 'button',
              'action_ts': '1643113877.645417'}]}

# Source: slackapi/bolt-python@a2f21ae4b1d1 tests/scenario_tests/test_view_submission.py (`body`: a workspace of an Enterprise Grid org)
VIEW_SUBMISSION_ENTERPRISE_GRID: dict[str, Any] = {'type': 'view_submission',
 'team': {'id': 'T111',
          'domain': 'workspace-domain',
          'enterprise_id': 'E111',
          'enterprise_name': 'Sandbox Org'},
 'user': {'id': 'W111',
          'username': 'primary-owner',
          'name': 'primary-owner',
          'team_id': 'T111'},
 'api_app_id': 'A111',
 'token': 'verification_token',
 'trigger_id': '111.222.valid',
 'view': {'id': 'V111',
          'team_id': 'T111',
          'type': 'modal',
          'blocks': [{'type': 'input',
                      'block_id': 'hspI',
                      'label': {'type': 'plain_text', 'text': 'Label'},
                      'optional': False,
                      'element': {'type': 'plain_text_input', 'action_id': 'maBWU'}}],
          'private_metadata': 'This is for you!',
          'callback_id': 'view-id',
          'state': {'values': {'hspI': {'maBWU': {'type': 'plain_text_input',
                                                  'value': 'test'}}}},
          'hash': '1596530361.3wRYuk3R',
          'title': {'type': 'plain_text', 'text': 'My App'},
          'clear_on_close': False,
          'notify_on_close': False,
          'close': {'type': 'plain_text', 'text': 'Cancel'},
          'submit': {'type': 'plain_text', 'text': 'Submit'},
          'previous_view_id': None,
          'root_view_id': 'V111',
          'app_id': 'A111',
          'external_id': '',
          'app_installed_team_id': 'T111',
          'bot_id': 'B111'},
 'response_urls': []}

# Source: slackapi/bolt-python@a2f21ae4b1d1 tests/scenario_tests/test_view_submission.py (`connect_channel_payload`: the user's team is not the installing team)
VIEW_SUBMISSION_SLACK_CONNECT: dict[str, Any] = {'type': 'view_submission',
 'team': {'id': 'T-other-side',
          'domain': 'other-side',
          'enterprise_id': 'E-other-side',
          'enterprise_name': 'Kaz Sandbox Org'},
 'user': {'id': 'W111', 'username': 'kaz', 'name': 'kaz', 'team_id': 'T-other-side'},
 'api_app_id': 'A1111',
 'token': 'legacy-fixed-token',
 'trigger_id': '111.222.xxx',
 'view': {'id': 'V11111',
          'team_id': 'T-other-side',
          'type': 'modal',
          'blocks': [{'type': 'input',
                      'block_id': 'zniAM',
                      'label': {'type': 'plain_text', 'text': 'Label'},
                      'element': {'type': 'plain_text_input',
                                  'dispatch_action_config': {'trigger_actions_on': ['on_enter_pressed']},
                                  'action_id': 'qEJr'}}],
          'private_metadata': '',
          'callback_id': 'view-id',
          'state': {'values': {'zniAM': {'qEJr': {'type': 'plain_text_input',
                                                  'value': 'Hi there!'}}}},
          'hash': '1664950703.CmTS8F7U',
          'title': {'type': 'plain_text', 'text': 'My App'},
          'close': {'type': 'plain_text', 'text': 'Cancel'},
          'submit': {'type': 'plain_text', 'text': 'Submit'},
          'root_view_id': 'V00000',
          'app_id': 'A1111',
          'external_id': '',
          'app_installed_team_id': 'T-installed-workspace',
          'bot_id': 'B1111'},
 'enterprise': {'id': 'E-other-side', 'name': 'Kaz Sandbox Org'}}

# Source: slackapi/java-slack-sdk@86ff7ca9915e bolt/src/test/java/test_locally/request/ViewSubmissionRequestTest.java (`orgWideInstallationPayload`)
VIEW_SUBMISSION_ORG_WIDE: dict[str, Any] = {'type': 'view_submission',
 'team': None,
 'user': {'id': 'W111',
          'username': 'primary-owner',
          'name': 'primary-owner',
          'team_id': 'T_unexpected'},
 'api_app_id': 'A111',
 'token': 'fixed-value',
 'trigger_id': '1111.222.xxx',
 'view': {'id': 'V111',
          'team_id': 'T_unexpected',
          'type': 'modal',
          'blocks': [{'type': 'input',
                      'block_id': '+5B',
                      'label': {'type': 'plain_text', 'text': 'Label', 'emoji': True},
                      'optional': False,
                      'dispatch_action': False,
                      'element': {'type': 'plain_text_input',
                                  'dispatch_action_config': {'trigger_actions_on': ['on_enter_pressed']},
                                  'action_id': 'MMKH'}}],
          'private_metadata': '',
          'callback_id': 'view-id',
          'state': {'values': {'+5B': {'MMKH': {'type': 'plain_text_input', 'value': 'test'}}}},
          'hash': '111.xxx',
          'title': {'type': 'plain_text', 'text': 'My App'},
          'clear_on_close': False,
          'notify_on_close': False,
          'close': {'type': 'plain_text', 'text': 'Cancel'},
          'submit': {'type': 'plain_text', 'text': 'Submit', 'emoji': True},
          'previous_view_id': None,
          'root_view_id': 'V111',
          'app_id': 'A111',
          'external_id': '',
          'app_installed_team_id': 'T_expected',
          'bot_id': 'B111'},
 'response_urls': [],
 'is_enterprise_install': True,
 'enterprise': {'id': 'E111', 'name': 'Sandbox Org'}}

# Source: slackapi/bolt-python@a2f21ae4b1d1 tests/scenario_tests/test_events_url_verification.py (`event_body`)
URL_VERIFICATION: dict[str, Any] = {'token': 'Jhj5dZrVaK7ZwHHjRyZWjbDl',
 'challenge': '3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P',
 'type': 'url_verification'}

# Source: slackapi/java-slack-sdk@86ff7ca9915e slack-app-backend/src/test/java/test_locally/app_backend/SlackSignatureTest.java (`requestBody`, Slack's example in https://docs.slack.dev/authentication/verifying-requests-from-slack: no api_app_id)
SLASH_COMMAND_OLD = 'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c'

# Source: slackapi/java-slack-sdk@86ff7ca9915e slack-app-backend/src/test/java/test_locally/app_backend/slash_commands/SlashCommandPayloadTest.java (`body2`, "(modified) real payload")
SLASH_COMMAND_NEW = 'token=xxx&team_id=T111&team_domain=test-workspace&channel_id=C111&channel_name=general&user_id=W111&user_name=primary-owner&command=%2Fhello&text=&api_app_id=A111&enterprise_id=E111&enterprise_name=Sandbox+Org&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT111%2F111%2Fxxx&trigger_id=111.222.xxx'

# Source: slackapi/java-slack-sdk@86ff7ca9915e slack-app-backend/src/test/java/test_locally/app_backend/slash_commands/SlashCommandPayloadTest.java (`orgLevelApp`)
SLASH_COMMAND_ORG_WIDE = 'token=xxx&team_id=T111&team_domain=test-workspace&channel_id=C111&channel_name=dev&user_id=W111&user_name=primary-owner&command=%2Forg-level-command&text=test&api_app_id=A111&is_enterprise_install=true&enterprise_id=E111&enterprise_name=Sandbox+Org&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT111%2F111%2Fxxx&trigger_id=111.222.xxx'

# Source: slackapi/bolt-python@a2f21ae4b1d1 tests/scenario_tests/test_ssl_check.py (the body it posts)
SSL_CHECK = 'token=random&ssl_check=1'

# fmt: on
